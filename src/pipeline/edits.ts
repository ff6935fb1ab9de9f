// Edits of a start image as the pipeline runs them. Each becomes a canvas (the image the
// run starts from, at the output size) and a mask of what it repaints:
// - region: the chosen cells of a 3x3 grid over the image;
// - mask (the command line's): white pixels of a mask image;
// - zoom out: the image shrunk at the centre of a canvas of its size, the frame around it new;
// - pan: the canvas grown by half the image on one side, that strip new;
// - upscale: the image at twice its size (super-resolution model or Lanczos), no mask.
// New areas are pre-filled from the colours at the image's edge, blurred, plus noise, so the
// run starts from plausible colours. The mask is feathered outward into the kept area (a soft
// edge, so no seam shows); after decoding, pixels outside the feathered mask are copied from
// the canvas, so they stay exactly as they were.
import type { Metadata } from 'sharp';
import {
  editDenoises,
  editLabel,
  editSize,
  EditSizeError,
  REGION_CELLS,
  type Edit,
  type GenerationRequest,
  type ModelInfo,
  type PipelineEdit,
} from '../contract/index.js';
import type { RgbImage } from '../images/png.js';
import { loadSharp } from '../images/sharp.js';
import { f32At, u8At } from '../checked.js';
import { InvalidRequestError } from './errors.js';
import type { LoadedModel } from './model.js';
import { createGenerator } from './rng/index.js';
import { resizeLanczos, upscaleTo } from './upscale.js';

/** Largest image we accept as a start image or a mask (decompression bombs). */
const MAX_INPUT_PIXELS = 40_000_000;

/** Standard deviation of the noise added to pre-filled areas, in 8-bit levels. */
const PREFILL_NOISE = 12;

export interface EditMask {
  /** 1 where the edit repaints, else 0 (width x height). An inpainting UNet is told this area. */
  repaint: Uint8Array;
  /** `repaint` feathered outward: 1 inside it, falling smoothly to 0 over `FEATHER` pixels into the kept area. */
  soft: Float32Array;
}

/** What a run starts from: the start image at the output size, and where it repaints (null: everywhere, as img2img). */
export interface StartCanvas extends RgbImage {
  mask: EditMask | null;
}

/** The feather of a mask's edge: a sixteenth of the shorter side (8 px at 128, 32 px at 512), at least 2. */
export function featherWidth(width: number, height: number): number {
  return Math.max(2, Math.round(Math.min(width, height) / 16));
}

/** An edit that runs no denoising (a subtle upscale): the upscaler (or Lanczos) alone makes the image. */
export function isSubtleUpscale(edit: PipelineEdit | undefined): boolean {
  return edit !== undefined && edit.kind !== 'mask' && !editDenoises(edit);
}

async function imageMetadata(bytes: Uint8Array, what: string): Promise<Metadata> {
  let meta: Metadata;
  try {
    const sharp = await loadSharp();
    meta = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  } catch {
    throw new InvalidRequestError(`the ${what} is not a readable PNG, JPEG or WebP file`);
  }
  if (!['png', 'jpeg', 'webp'].includes(meta.format ?? '')) {
    throw new InvalidRequestError(`the ${what} must be PNG, JPEG or WebP, not ${meta.format ?? 'unknown'}`);
  }
  return meta;
}

function rgbOf(data: Buffer, width: number, height: number): RgbImage {
  return { width, height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** The start image of img2img: resized to cover width x height (cropping what sticks out). */
async function decodeCovering(bytes: Uint8Array, what: string, width: number, height: number): Promise<RgbImage> {
  await imageMetadata(bytes, what);
  const sharp = await loadSharp();
  const { data } = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS })
    .rotate()
    .removeAlpha()
    .resize(width, height, { fit: 'cover' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return rgbOf(data, width, height);
}

/** The start image of an edit, at its own size. */
async function decodeAsIs(bytes: Uint8Array): Promise<RgbImage> {
  await imageMetadata(bytes, 'start image');
  const sharp = await loadSharp();
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS })
    .rotate()
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return rgbOf(data, info.width, info.height);
}

/** The size the edit makes from this source, which must be the request's (the bot stores what editSize decided). */
function checkEditSize(edit: Edit, source: RgbImage, model: ModelInfo, maxPixels: number, req: GenerationRequest): { scaledDown: boolean } {
  let size;
  try {
    size = editSize(edit, source, model, maxPixels);
  } catch (err) {
    if (err instanceof EditSizeError) throw new InvalidRequestError(err.message);
    throw err;
  }
  if (size.width !== req.width || size.height !== req.height) {
    throw new InvalidRequestError(
      `${editLabel(edit)} of a ${source.width}x${source.height} image makes ${size.width}x${size.height}, not ${req.width}x${req.height}.`,
    );
  }
  return size;
}

/**
 * The canvas and mask a request starts from: plain img2img (no mask), an edit, or a subtle
 * upscale's result. `maxPixels` is the deployment's limit, which decides edit sizes.
 */
export async function startCanvas(model: LoadedModel, req: GenerationRequest, maxPixels: number): Promise<StartCanvas> {
  if (req.init === undefined) throw new RangeError('startCanvas needs a start image');
  const edit = req.edit;
  const { width, height } = req;
  if (edit === undefined) return { ...(await decodeCovering(req.init.image, 'start image', width, height)), mask: null };
  if (edit.kind === 'mask') {
    const image = await decodeCovering(req.init.image, 'start image', width, height);
    const grey = await decodeCovering(edit.mask, 'mask image', width, height);
    const repaint = new Uint8Array(width * height);
    for (let p = 0; p < repaint.length; p++)
      repaint[p] = u8At(grey.rgb, p * 3) + u8At(grey.rgb, p * 3 + 1) + u8At(grey.rgb, p * 3 + 2) >= 3 * 128 ? 1 : 0;
    if (!repaint.includes(1)) throw new InvalidRequestError('The mask is all black: nothing to repaint (white marks what to repaint).');
    return { ...image, mask: featheredMask(repaint, width, height) };
  }

  const source = await decodeAsIs(req.init.image);
  const { scaledDown } = checkEditSize(edit, source, model.info, maxPixels, req);
  switch (edit.kind) {
    case 'region': {
      const repaint = regionMask(edit.cells, width, height);
      return { ...source, mask: featheredMask(repaint, width, height) };
    }
    case 'zoom': {
      const inner = { width: Math.round(width / edit.factor), height: Math.round(height / edit.factor) };
      const at = { x: Math.floor((width - inner.width) / 2), y: Math.floor((height - inner.height) / 2) };
      return outpaintCanvas(await resizeLanczos(source, inner.width, inner.height), width, height, at, req.seed);
    }
    case 'pan': {
      // The full canvas (before editSize fitted it to the limits): the original plus half of it on one side.
      const horizontal = edit.direction === 'left' || edit.direction === 'right';
      const fullW = horizontal ? 1.5 * source.width : source.width;
      const fullH = horizontal ? source.height : 1.5 * source.height;
      const scale = scaledDown ? Math.min(width / fullW, height / fullH) : 1;
      const kept = await resizeLanczos(
        source,
        Math.min(width, Math.round(source.width * scale)),
        Math.min(height, Math.round(source.height * scale)),
      );
      const at = {
        x: edit.direction === 'left' ? width - kept.width : edit.direction === 'right' ? 0 : Math.floor((width - kept.width) / 2),
        y: edit.direction === 'up' ? height - kept.height : edit.direction === 'down' ? 0 : Math.floor((height - kept.height) / 2),
      };
      return outpaintCanvas(kept, width, height, at, req.seed);
    }
    case 'upscale':
      return { ...(await upscaleTo(model.upscaler, source, width, height)), mask: null };
  }
}

/** The cells of a 3x3 grid as a repaint mask (cell i of REGION_CELLS is column i % 3, row i / 3). */
export function regionMask(cells: readonly string[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (const cell of cells) {
    const index = (REGION_CELLS as readonly string[]).indexOf(cell);
    const [col, row] = [index % 3, Math.floor(index / 3)];
    const [x0, x1] = [Math.round((col * width) / 3), Math.round(((col + 1) * width) / 3)];
    const [y0, y1] = [Math.round((row * height) / 3), Math.round(((row + 1) * height) / 3)];
    for (let y = y0; y < y1; y++) mask.fill(1, y * width + x0, y * width + x1);
  }
  return mask;
}

/**
 * Feathers a repaint mask outward: the distance of every kept pixel to the repaint area
 * (8-neighbour chamfer distance, two passes) mapped through a smoothstep falling from 1 at
 * the area's edge to 0 at the feather width.
 */
export function featheredMask(repaint: Uint8Array, width: number, height: number): EditMask {
  const feather = featherWidth(width, height);
  const dist = new Float32Array(width * height);
  for (let p = 0; p < dist.length; p++) dist[p] = repaint[p] ? 0 : Infinity;
  const diagonal = Math.SQRT2;
  const relax = (p: number, q: number, d: number) => {
    const viaQ = f32At(dist, q) + d;
    if (viaQ < f32At(dist, p)) dist[p] = viaQ;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (x > 0) relax(p, p - 1, 1);
      if (y > 0) {
        relax(p, p - width, 1);
        if (x > 0) relax(p, p - width - 1, diagonal);
        if (x < width - 1) relax(p, p - width + 1, diagonal);
      }
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const p = y * width + x;
      if (x < width - 1) relax(p, p + 1, 1);
      if (y < height - 1) {
        relax(p, p + width, 1);
        if (x < width - 1) relax(p, p + width + 1, diagonal);
        if (x > 0) relax(p, p + width - 1, diagonal);
      }
    }
  }
  const soft = new Float32Array(width * height);
  for (let p = 0; p < soft.length; p++) {
    const t = f32At(dist, p) / feather;
    soft[p] = t >= 1 ? 0 : 1 - t * t * (3 - 2 * t);
  }
  return { repaint, soft };
}

/**
 * Outpainting's canvas: `kept` at `at` on a width x height canvas, the rest new and
 * masked. The new area takes the colour of the nearest edge pixel of `kept`, box-blurred
 * (three passes, about a Gaussian) so it carries the edge's colours without its streaks,
 * plus seeded noise.
 */
function outpaintCanvas(kept: RgbImage, width: number, height: number, at: { x: number; y: number }, seed: number): StartCanvas {
  const rgb = new Uint8Array(width * height * 3);
  const repaint = new Uint8Array(width * height);
  const clampX = (x: number) => Math.min(kept.width - 1, Math.max(0, x - at.x));
  const clampY = (y: number) => Math.min(kept.height - 1, Math.max(0, y - at.y));
  const extended = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const inside = x >= at.x && x < at.x + kept.width && y >= at.y && y < at.y + kept.height;
      repaint[p] = inside ? 0 : 1;
      const src = (clampY(y) * kept.width + clampX(x)) * 3;
      for (let c = 0; c < 3; c++) extended[p * 3 + c] = u8At(kept.rgb, src + c);
    }
  }
  const blurred = boxBlur3(extended, width, height, Math.max(2, Math.round(Math.min(width, height) / 8)));
  const noise = createGenerator('numpy', seed).randn(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      const v = repaint[p] ? f32At(blurred, i) + PREFILL_NOISE * f32At(noise, i) : f32At(extended, i);
      rgb[i] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return { width, height, rgb, mask: featheredMask(repaint, width, height) };
}

/** Three passes of a separable box blur of `radius` over interleaved RGB floats (edges clamped). */
function boxBlur3(src: Float32Array, width: number, height: number, radius: number): Float32Array {
  const a = src.slice();
  const b = new Float32Array(src.length);
  const pass = (from: Float32Array, to: Float32Array, n: number, lines: number, index: (line: number, k: number) => number) => {
    const span = 2 * radius + 1;
    for (let line = 0; line < lines; line++) {
      for (let c = 0; c < 3; c++) {
        const at = (k: number) => f32At(from, index(line, Math.min(n - 1, Math.max(0, k))) * 3 + c);
        let sum = 0;
        for (let k = -radius; k <= radius; k++) sum += at(k);
        for (let k = 0; k < n; k++) {
          to[index(line, k) * 3 + c] = sum / span;
          sum += at(k + radius + 1) - at(k - radius);
        }
      }
    }
  };
  for (let i = 0; i < 3; i++) {
    pass(a, b, width, height, (y, x) => y * width + x);
    pass(b, a, height, width, (x, y) => y * width + x);
  }
  return a;
}

/**
 * The latent-resolution mask of the per-step blend (and of an inpainting UNet's mask input):
 * a latent cell is repainted when the feathered mask covers at least half of its pixels, as
 * A1111 rounds its latent mask.
 */
export function latentMask(mask: EditMask, width: number, height: number, factor: number): Float32Array {
  const [w, h] = [width / factor, height / factor];
  const out = new Float32Array(w * h);
  for (let ly = 0; ly < h; ly++) {
    for (let lx = 0; lx < w; lx++) {
      let sum = 0;
      for (let y = ly * factor; y < (ly + 1) * factor; y++)
        for (let x = lx * factor; x < (lx + 1) * factor; x++) sum += f32At(mask.soft, y * width + x);
      out[ly * w + lx] = sum / (factor * factor) >= 0.5 ? 1 : 0;
    }
  }
  return out;
}

/** Copies the canvas into a generated image where the feathered mask is below 1 (exactly where it is 0). */
export function compositeKept(image: Uint8Array, canvas: Uint8Array, mask: EditMask): void {
  const soft = mask.soft;
  for (let p = 0; p < soft.length; p++) {
    const m = f32At(soft, p);
    if (m >= 1) continue;
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      image[i] = Math.round(m * u8At(image, i) + (1 - m) * u8At(canvas, i));
    }
  }
}
