import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { at } from '../../src/checked.js';
import { fromHalfBits, toHalfBits } from '../../src/pipeline/float16.js';
import { makeGrid } from '../../src/images/grid.js';
import { encodePng, readPngParameters } from '../../src/images/png.js';
import { imageTensorToRgb, latentsToRgb, SD15_PREVIEW_FACTORS } from '../../src/pipeline/preview.js';

function gradient(width: number, height: number, seed: number) {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7 + seed * 31) & 0xff;
  return { width, height, rgb };
}

describe('encodePng', () => {
  it('round-trips pixels through a real decoder and carries the parameters text', async () => {
    const image = gradient(33, 17, 1);
    const png = encodePng(image, 'a red circle\nSteps: 20, Seed: 1');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([33, 17, 3]);
    expect(Buffer.compare(data, Buffer.from(image.rgb))).toBe(0);
    expect(readPngParameters(png)).toBe('a red circle\nSteps: 20, Seed: 1');
  });

  it('writes the same bytes for the same input and stores non-Latin-1 text as UTF-8', () => {
    const image = gradient(8, 8, 2);
    expect(encodePng(image, 'x').equals(encodePng(image, 'x'))).toBe(true);
    const png = encodePng(image, '狐 im Schnee 🦊');
    expect(readPngParameters(png)).toBe('狐 im Schnee 🦊');
  });

  it('rejects a pixel buffer of the wrong size', () => {
    expect(() => encodePng({ width: 2, height: 2, rgb: new Uint8Array(5) })).toThrow('expected 12 RGB bytes, got 5');
  });
});

describe('makeGrid', () => {
  it('lays four images out 2x2 with a gutter of at most 8 px', () => {
    const images = [0, 1, 2, 3].map((s) => gradient(10, 6, s));
    const grid = makeGrid(images, 4);
    expect([grid.width, grid.height]).toEqual([24, 16]);
    const pixel = (x: number, y: number) => Array.from(grid.rgb.subarray((y * grid.width + x) * 3, (y * grid.width + x) * 3 + 3));
    const src = (i: number, x: number, y: number) => Array.from(at(images, i).rgb.subarray((y * 10 + x) * 3, (y * 10 + x) * 3 + 3));
    expect(pixel(0, 0)).toEqual(src(0, 0, 0));
    expect(pixel(14, 0)).toEqual(src(1, 0, 0));
    expect(pixel(3, 10)).toEqual(src(2, 3, 0));
    expect(pixel(23, 15)).toEqual(src(3, 9, 5));
  });

  it('keeps a single image as it is', () => {
    const one = gradient(5, 5, 3);
    expect(makeGrid([one])).toBe(one);
  });
});

describe('previews and conversions', () => {
  it('maps latents to RGB with the linear factors', () => {
    const latents = new Float32Array(4 * 2 * 2);
    latents[0] = 1; // channel 0, pixel 0
    const rgb = latentsToRgb(latents, 0, 4, 2, 2, SD15_PREVIEW_FACTORS);
    expect(Array.from(rgb.subarray(0, 3))).toEqual([Math.round(1.3512 * 127.5), Math.round(1.2297 * 127.5), Math.round(1.3227 * 127.5)]);
    expect(Array.from(rgb.subarray(3, 6))).toEqual([128, 128, 128]);
  });

  it('converts decoder output like diffusers (clamp, x255, round half to even)', () => {
    const data = new Float32Array([-1, 1, 0, 2, -2, 0.5, 0, 0, 0, 0, 0, 0]); // 3 channels x 4 pixels
    const rgb = imageTensorToRgb(data, 0, 2, 2);
    expect(Array.from(rgb.filter((_, i) => i % 3 === 0))).toEqual([0, 255, 128, 255]);
  });

  it('converts float16 both ways', () => {
    for (const v of [0, 1, -2.5, 65504, 1e-7, 0.1]) expect(fromHalfBits(toHalfBits(v))).toBeCloseTo(v, 3);
    expect(fromHalfBits(toHalfBits(1e6))).toBe(Infinity);
  });
});
