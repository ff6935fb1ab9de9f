// Lays out 1-4 images of one size as a 2x2 grid (a single image stays as it is).
import type { RgbImage } from './png.js';

/** Discord's dark theme background, so the gutter disappears in the client. */
const GUTTER_RGB = [49, 51, 56] as const;

export function makeGrid(images: RgbImage[], gutter = 4): RgbImage {
  const [first] = images;
  if (first === undefined) throw new RangeError('makeGrid needs at least one image');
  if (images.length === 1) return first;
  const { width, height } = first;
  if (images.some((i) => i.width !== width || i.height !== height)) throw new RangeError('grid images must share one size');
  const cols = 2;
  const rows = images.length > 2 ? 2 : 1;
  const gw = cols * width + (cols - 1) * gutter;
  const gh = rows * height + (rows - 1) * gutter;
  const rgb = new Uint8Array(gw * gh * 3);
  for (let i = 0; i < rgb.length; i += 3) {
    rgb[i] = GUTTER_RGB[0];
    rgb[i + 1] = GUTTER_RGB[1];
    rgb[i + 2] = GUTTER_RGB[2];
  }
  images.forEach((img, n) => {
    const x0 = (n % cols) * (width + gutter);
    const y0 = Math.floor(n / cols) * (height + gutter);
    for (let y = 0; y < height; y++) {
      const dst = ((y0 + y) * gw + x0) * 3;
      rgb.set(img.rgb.subarray(y * width * 3, (y + 1) * width * 3), dst);
    }
  });
  return { width: gw, height: gh, rgb };
}
