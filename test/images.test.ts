// Image encoding for Discord: small WebP previews, and the result file made from stored
// PNGs: a single image exactly as stored, a grid otherwise, kept under the upload limit by
// re-encoding (never dropped).
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resultFile } from '../src/contract/index.js';
import { decodePng, encodePreview } from '../src/images/encode.js';
import { encodePng, readPngParameters } from '../src/images/png.js';

function noise(width: number, height: number) {
  return { width, height, rgb: new Uint8Array(randomBytes(width * height * 3)) };
}

function solid(width: number, height: number, rgb: [number, number, number]) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, rgb: data };
}

const stored = (image: { width: number; height: number; rgb: Uint8Array }) => ({
  png: encodePng(image, 'a red circle\nSteps: 20, Seed: 7'),
});

describe('images', () => {
  it('encodes previews as small WebP images 256 pixels wide', async () => {
    const webp = await encodePreview(noise(64, 16));
    const meta = await sharp(webp).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 256, 64]);
    expect(webp.length).toBeLessThan(100 * 1024);
  });

  it('delivers a single image as its stored PNG, byte for byte, with its parameters', async () => {
    const image = stored(solid(128, 128, [10, 20, 30]));
    const file = await resultFile([image], 256 * 1024, 'job1');
    expect(file.name).toBe('job1.png');
    expect(Buffer.compare(file.data, Buffer.from(image.png))).toBe(0);
    expect(readPngParameters(file.data)).toBe('a red circle\nSteps: 20, Seed: 7');
  });

  it('makes a 2x2 grid PNG when it fits and re-encodes it smaller when it does not', async () => {
    const images = [noise(512, 512), noise(512, 512), noise(512, 512), noise(512, 512)].map(stored);
    const png = await resultFile(images, 100 * 1024 * 1024, 'big');
    expect(png.name).toBe('big.png');
    expect((await decodePng(png.data)).width).toBe(1028);
    expect(png.data.length).toBeGreaterThan(2_000_000);
    const jpeg = await resultFile(images, 1_000_000, 'big');
    expect(jpeg.name).toBe('big.jpg');
    expect(jpeg.data.length).toBeLessThanOrEqual(1_000_000);
    expect((await sharp(jpeg.data).metadata()).width).toBe(1028); // quality went down, size kept

    const tiny = await resultFile(images, 60_000, 'big');
    expect(tiny.data.length).toBeLessThanOrEqual(60_000);
    expect((await sharp(tiny.data).metadata()).width).toBeLessThan(1028); // downscaled as a last resort
  });
});
