// Image encoding with sharp: small progress previews, the denoising replay, and decoding
// stored PNGs. (Result files are made in src/contract/result-file.ts.)
import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from './png.js';

/** Longest side of previews, in pixels. */
export const PREVIEW_SIDE = 256;

export function scaledSize(image: { width: number; height: number }, side: number): { width: number; height: number } {
  const scale = side / Math.max(image.width, image.height);
  return { width: Math.max(1, Math.round(image.width * scale)), height: Math.max(1, Math.round(image.height * scale)) };
}

/** A sharp pipeline over raw RGB pixels. */
export function raw(image: RgbImage): Sharp {
  return sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** A small WebP of a preview, upscaled without smoothing (latent previews are tiny). */
export async function encodePreview(image: RgbImage, side = PREVIEW_SIDE): Promise<Buffer> {
  const size = scaledSize(image, side);
  return raw(image)
    .resize({ ...size, kernel: 'nearest' })
    .webp({ quality: 70 })
    .toBuffer();
}

/** A replay plays its frames quickly, then holds the last one (the image) a moment. */
export const REPLAY_FRAME_MS = 150;
export const REPLAY_LAST_FRAME_MS = 1500;
/** Replays stay well under Discord's upload limit and small in Postgres. */
export const REPLAY_MAX_BYTES = 512 * 1024;

export interface ReplayOptions {
  /** Longest side of a frame in pixels. @defaultValue PREVIEW_SIDE (256) */
  side?: number;
  /** Largest WebP returned. @defaultValue REPLAY_MAX_BYTES (512 KiB) */
  maxBytes?: number;
}

export interface EncodedReplay {
  webp: Buffer;
  /** Pages of the WebP: frames identical to the one before are merged into it. */
  frames: number;
  /** Size of one frame. */
  width: number;
  height: number;
}

/**
 * A looping animated WebP of preview frames, each upscaled without smoothing like the
 * progress previews; the frames are stacked vertically as the pages of one image. Above
 * `maxBytes` (noisy frames compress badly) every other frame is dropped, keeping the last.
 */
export async function encodeReplay(frames: RgbImage[], options: ReplayOptions = {}): Promise<EncodedReplay> {
  const maxBytes = options.maxBytes ?? REPLAY_MAX_BYTES;
  const [first] = frames;
  if (first === undefined) throw new RangeError('encodeReplay needs at least one frame');
  const size = scaledSize(first, options.side ?? PREVIEW_SIDE);
  let pages = await Promise.all(
    frames.map((frame) =>
      raw(frame)
        .resize({ ...size, kernel: 'nearest' })
        .raw()
        .toBuffer(),
    ),
  );
  for (;;) {
    const delay = pages.map((_, i) => (i === pages.length - 1 ? REPLAY_LAST_FRAME_MS : REPLAY_FRAME_MS));
    const webp = await sharp(Buffer.concat(pages), {
      raw: { width: size.width, height: size.height * pages.length, channels: 3, pageHeight: size.height },
    })
      .webp({ quality: 70, loop: 0, delay })
      .toBuffer();
    // The encoder merges a frame identical to the one before into it (a longer delay).
    if (webp.length <= maxBytes) return { webp, frames: (await sharp(webp).metadata()).pages ?? pages.length, ...size };
    if (pages.length === 1) throw new RangeError(`a single replay frame takes ${webp.length} bytes, over the ${maxBytes} allowed`);
    const count = pages.length;
    pages = pages.filter((_, i) => (count - 1 - i) % 2 === 0);
  }
}

/** Raw RGB pixels of a stored PNG. */
export async function decodePng(png: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
