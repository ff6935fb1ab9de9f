// The file a finished job is delivered with, made by this one function wherever it is
// shown (first delivery, delivery after the interaction token expired, /show): one image
// is its stored PNG as it is, with its `parameters` chunk; several are one 2x2 grid. The
// file stays under the upload limit by re-encoding, never by dropping it.
import { at } from '../checked.js';
import type { MessageFile } from '../discord/messages.js';
import { makeGrid } from '../images/grid.js';
import { encodePng, type RgbImage } from '../images/png.js';

/** What the result file needs of a stored image. */
export interface StoredPng {
  png: Uint8Array;
}

/**
 * The sharp-based encoders, loaded on first use: the pipeline thread and the imagine CLI import
 * the contract but never make a result file, and loading sharp costs them 0.1-0.2 s of start-up.
 */
const encoders = () => import('../images/encode.js');

async function underLimit(image: RgbImage, maxBytes: number, baseName: string): Promise<MessageFile> {
  const { raw, scaledSize } = await encoders();
  for (const quality of [90, 80, 70, 55, 40]) {
    const jpeg = await raw(image).jpeg({ quality, mozjpeg: true }).toBuffer();
    if (jpeg.length <= maxBytes) return { name: `${baseName}.jpg`, data: jpeg };
  }
  let side = Math.max(image.width, image.height);
  for (;;) {
    side = Math.floor(side * 0.75);
    const jpeg = await raw(image).resize(scaledSize(image, side)).jpeg({ quality: 60, mozjpeg: true }).toBuffer();
    if (jpeg.length <= maxBytes || side <= 64) return { name: `${baseName}.jpg`, data: jpeg };
  }
}

/**
 * The result file of a job from its stored images, in index order. Above `maxBytes` it is
 * re-encoded as JPEG at falling quality, then downscaled, until it fits.
 */
export async function resultFile(images: readonly StoredPng[], maxBytes: number, baseName: string): Promise<MessageFile> {
  const [first] = images;
  if (first === undefined) throw new RangeError('a result file needs at least one image');
  if (images.length === 1 && first.png.length <= maxBytes) return { name: `${baseName}.png`, data: Buffer.from(first.png) };
  const { decodePng } = await encoders();
  const decoded = await Promise.all(images.map((image) => decodePng(image.png)));
  const file = decoded.length === 1 ? at(decoded, 0) : makeGrid(decoded);
  const png = decoded.length === 1 ? null : encodePng(file);
  if (png !== null && png.length <= maxBytes) return { name: `${baseName}.png`, data: png };
  return underLimit(file, maxBytes, baseName);
}
