// Image encoding for Discord: previews laid out like the grid, results kept under the
// upload limit by re-encoding (never dropped).
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodePng, encodePreview, encodeResultFile, previewGrid } from '../src/worker/images.js';

function noise(width: number, height: number) {
  return { width, height, rgb: new Uint8Array(randomBytes(width * height * 3)) };
}

function solid(width: number, height: number, rgb: [number, number, number]) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, rgb: data };
}

describe('worker images', () => {
  it('lays a side-by-side batch preview out as the 2x2 grid', () => {
    const red = solid(4, 4, [255, 0, 0]);
    const side = { width: 16, height: 4, rgb: new Uint8Array(16 * 4 * 3) };
    const colours: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]];
    for (let y = 0; y < 4; y++) for (let x = 0; x < 16; x++) side.rgb.set(colours[Math.floor(x / 4)]!, (y * 16 + x) * 3);
    const grid = previewGrid(side, 4);
    expect([grid.width, grid.height]).toEqual([9, 9]); // 2 tiles of 4 + a 1-pixel gutter
    const at = (x: number, y: number) => [...grid.rgb.subarray((y * 9 + x) * 3, (y * 9 + x) * 3 + 3)];
    expect([at(0, 0), at(5, 0), at(0, 5), at(5, 5)]).toEqual(colours);
    expect(previewGrid(red, 1)).toBe(red);
  });

  it('encodes previews as small WebP images 256 pixels wide', async () => {
    const webp = await encodePreview(noise(64, 16));
    const meta = await sharp(webp).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 256, 64]);
    expect(webp.length).toBeLessThan(100 * 1024);
  });

  it('keeps a result PNG when it fits and re-encodes it smaller when it does not', async () => {
    const small = await encodeResultFile([solid(128, 128, [10, 20, 30])], 256 * 1024, 'job1');
    expect(small.name).toBe('job1.png');
    expect((await decodePng(small.data)).width).toBe(128);

    const images = [noise(512, 512), noise(512, 512), noise(512, 512), noise(512, 512)];
    const png = await encodeResultFile(images, 100 * 1024 * 1024, 'big');
    expect(png.data.length).toBeGreaterThan(2_000_000);
    const jpeg = await encodeResultFile(images, 1_000_000, 'big');
    expect(jpeg.name).toBe('big.jpg');
    expect(jpeg.data.length).toBeLessThanOrEqual(1_000_000);
    expect((await sharp(jpeg.data).metadata()).width).toBe(1028); // quality went down, size kept

    const tiny = await encodeResultFile(images, 60_000, 'big');
    expect(tiny.data.length).toBeLessThanOrEqual(60_000);
    expect((await sharp(tiny.data).metadata()).width).toBeLessThan(1028); // downscaled as a last resort
  });
});
