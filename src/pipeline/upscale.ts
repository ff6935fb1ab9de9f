// Upscaling an image 2x: a super-resolution model (ESRGAN-style ONNX: RGB in [0,1] in, the
// same at `scale` times the size out) when the model has one, else a Lanczos-3 resize.
// Large images go through the model in tiles: each tile is read with a margin of context
// that is cropped away, and neighbouring tiles overlap with weights that ramp linearly
// across the overlap and sum to 1, so no seam shows.
import { at, f32At, u8At } from '../checked.js';
import type { RgbImage } from '../images/png.js';
import { loadSharp } from '../images/sharp.js';
import { ModelFaultError } from './errors.js';
import { asFloat32, floatsToHalf } from './float16.js';
import type { LoadedUpscaler } from './model.js';

/** Tile geometry in input pixels: the tile each run covers, how much neighbours overlap, the context read around it. */
export interface TileLayout {
  tile: number;
  overlap: number;
  margin: number;
}

/** 256 px tiles keep a GPU's memory small at any image size; the margin covers an ESRGAN's reach at the tile's edge. */
export const SR_TILES: TileLayout = Object.freeze({ tile: 256, overlap: 32, margin: 16 });

/** A Lanczos-3 resize to exactly width x height (the aspect ratio may change slightly, as sizes are rounded to the model's multiple). */
export async function resizeLanczos(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const sharp = await loadSharp();
  const { data } = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { kernel: 'lanczos3', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width, height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** The image at width x height: the super-resolution model's output resized to it, or a Lanczos resize without a model. */
export async function upscaleTo(upscaler: LoadedUpscaler | null, image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (upscaler === null) return resizeLanczos(image, width, height);
  return resizeLanczos(await superResolve(upscaler, image), width, height);
}

/** Where tiles of `tile` start along a side of `size`, `overlap` apart at least; the last ends at the side's end. */
export function tileStarts(size: number, tile: number, overlap: number): number[] {
  if (size <= tile) return [0];
  const starts: number[] = [];
  for (let start = 0; start + tile < size; start += tile - overlap) starts.push(start);
  starts.push(size - tile);
  return starts;
}

/**
 * The weight of output position `x` (in [begin, end)) of a tile whose previous neighbour ends at
 * `prevEnd` and next begins at `nextBegin` (null at the image's edges): 1 in the tile's own part,
 * ramping to 0 across each overlap, where the neighbour's weight is the complement.
 */
function rampWeight(x: number, begin: number, end: number, prevEnd: number | null, nextBegin: number | null): number {
  const centre = x + 0.5;
  if (prevEnd !== null && x < prevEnd) return (centre - begin) / (prevEnd - begin);
  if (nextBegin !== null && x >= nextBegin) return (end - centre) / (end - nextBegin);
  return 1;
}

/** Runs the super-resolution model over the image, in tiles when it is larger than one tile. */
export async function superResolve(upscaler: LoadedUpscaler, image: RgbImage, layout: TileLayout = SR_TILES): Promise<RgbImage> {
  const { width, height, rgb } = image;
  const s = upscaler.scale;
  const outW = width * s;
  const outH = height * s;
  const xs = tileStarts(width, layout.tile, layout.overlap);
  const ys = tileStarts(height, layout.tile, layout.overlap);
  const tileW = Math.min(width, layout.tile);
  const tileH = Math.min(height, layout.tile);
  const sum = new Float32Array(3 * outW * outH);
  const weights = new Float32Array(outW * outH);
  const input = new Float32Array(3 * Math.min(width, tileW + 2 * layout.margin) * Math.min(height, tileH + 2 * layout.margin));
  const half = upscaler.input.type === 'float16' ? new Uint16Array(input.length) : undefined;

  for (const [j, y0] of ys.entries()) {
    for (const [i, x0] of xs.entries()) {
      // The region read: the tile and its margin, inside the image.
      const rx0 = Math.max(0, x0 - layout.margin);
      const ry0 = Math.max(0, y0 - layout.margin);
      const rw = Math.min(width, x0 + tileW + layout.margin) - rx0;
      const rh = Math.min(height, y0 + tileH + layout.margin) - ry0;
      const plane = rw * rh;
      const view = input.subarray(0, 3 * plane);
      for (let y = 0; y < rh; y++) {
        for (let x = 0; x < rw; x++) {
          const src = ((ry0 + y) * width + rx0 + x) * 3;
          for (let c = 0; c < 3; c++) view[c * plane + y * rw + x] = u8At(rgb, src + c) / 255;
        }
      }
      const data = half ? floatsToHalf(view, half.subarray(0, view.length)) : view;
      const result = await upscaler.session.run({ [upscaler.input.name]: { type: upscaler.input.type, data, dims: [1, 3, rh, rw] } }, [
        upscaler.output,
      ]);
      const tensor = result[upscaler.output];
      if (tensor === undefined) throw new ModelFaultError(`the upscaler returned no "${upscaler.output}" output`);
      const [, channels, oh, ow] = tensor.dims;
      if (channels !== 3 || oh !== rh * s || ow !== rw * s) {
        throw new ModelFaultError(
          `the upscaler made [${tensor.dims.join(', ')}] from a ${rw}x${rh} image; expected [1, 3, ${rh * s}, ${rw * s}]`,
        );
      }
      const out = asFloat32(tensor);
      const outPlane = oh * ow;
      // Accumulate the tile's own part (its margin cropped away), weighted across overlaps.
      const [bx, ex] = [x0 * s, (x0 + tileW) * s];
      const [by, ey] = [y0 * s, (y0 + tileH) * s];
      const prevX = i > 0 ? (at(xs, i - 1) + tileW) * s : null;
      const nextX = i < xs.length - 1 ? at(xs, i + 1) * s : null;
      const prevY = j > 0 ? (at(ys, j - 1) + tileH) * s : null;
      const nextY = j < ys.length - 1 ? at(ys, j + 1) * s : null;
      for (let y = by; y < ey; y++) {
        const wy = rampWeight(y, by, ey, prevY, nextY);
        const ty = y - ry0 * s;
        for (let x = bx; x < ex; x++) {
          const w = wy * rampWeight(x, bx, ex, prevX, nextX);
          const src = ty * ow + (x - rx0 * s);
          const dst = y * outW + x;
          weights[dst] = f32At(weights, dst) + w;
          for (let c = 0; c < 3; c++) {
            const k = c * outW * outH + dst;
            sum[k] = f32At(sum, k) + w * f32At(out, c * outPlane + src);
          }
        }
      }
    }
  }

  const result = new Uint8Array(outW * outH * 3);
  const outPlane = outW * outH;
  for (let p = 0; p < outPlane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = f32At(sum, c * outPlane + p) / f32At(weights, p);
      result[p * 3 + c] = Math.round((v <= 0 ? 0 : v >= 1 ? 1 : v) * 255);
    }
  }
  return { width: outW, height: outH, rgb: result };
}
