// Image encoding for Discord: small WebP previews, results kept under the upload limit by
// re-encoding (never dropped).
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodePng, encodePreview, encodeResultFile } from '../src/worker/images.js';

function noise(width: number, height: number) {
  return { width, height, rgb: new Uint8Array(randomBytes(width * height * 3)) };
}

function solid(width: number, height: number, rgb: [number, number, number]) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, rgb: data };
}

describe('worker images', () => {
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
