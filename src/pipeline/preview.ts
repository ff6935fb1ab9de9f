// Cheap previews: a 4x3 linear map (plus bias) from diffusion-space latents to RGB in
// [-1, 1], as ComfyUI's latent2rgb and A1111's "Approx cheap" do. One multiply-add per
// channel and pixel: microseconds at 16x16 latents.
import { at, f32At, f64At } from '../checked.js';

export interface PreviewFactors {
  /** One row per latent channel, each [r, g, b]. */
  factors: number[][];
  bias: number[];
}

/** ComfyUI's SD 1.5 factors (comfy/latent_formats.py), applied to latents x scaling factor. */
export const SD15_PREVIEW_FACTORS: PreviewFactors = Object.freeze({
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.325, 0.4974, 0.235],
    [-0.2829, 0.1762, 0.2721],
    [-0.212, -0.2616, -0.7177],
  ],
  bias: [0, 0, 0],
});

/**
 * Maps one image of a latent batch ([B, C, H, W], diffusion space) to RGB bytes (H x W x 3).
 * Writes into `out` when given, so a caller can reuse one buffer.
 */
export function latentsToRgb(
  latents: Float32Array,
  batchIndex: number,
  channels: number,
  height: number,
  width: number,
  preview: PreviewFactors,
  out: Uint8Array = new Uint8Array(height * width * 3),
): Uint8Array {
  const plane = height * width;
  const base = batchIndex * channels * plane;
  const used = Math.min(channels, preview.factors.length);
  // [r, g, b] factors of each used channel, flat: read once, not once per pixel
  const factors = Float64Array.from(preview.factors.slice(0, used).flatMap((f) => [at(f, 0), at(f, 1), at(f, 2)]));
  const [biasR = 0, biasG = 0, biasB = 0] = preview.bias;
  for (let p = 0; p < plane; p++) {
    let r = biasR;
    let g = biasG;
    let b = biasB;
    for (let c = 0; c < used; c++) {
      const v = f32At(latents, base + c * plane + p);
      r += v * f64At(factors, 3 * c);
      g += v * f64At(factors, 3 * c + 1);
      b += v * f64At(factors, 3 * c + 2);
    }
    out[p * 3] = toByte(r);
    out[p * 3 + 1] = toByte(g);
    out[p * 3 + 2] = toByte(b);
  }
  return out;
}

function toByte(v: number): number {
  const x = (v + 1) * 127.5;
  return x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x);
}

/**
 * Converts decoder output ([B, 3, H, W]) to RGB bytes as diffusers does for a VAE in
 * [-1, 1]: clamp(x / 2 + 0.5, 0, 1) * 255 in float32, rounded half to even (numpy).
 * `range` '0..1' is for TAESD decoders, whose output is already in [0, 1].
 */
export function imageTensorToRgb(
  data: Float32Array,
  batchIndex: number,
  height: number,
  width: number,
  range: '-1..1' | '0..1' = '-1..1',
  out: Uint8Array = new Uint8Array(height * width * 3),
): Uint8Array {
  const plane = height * width;
  const base = batchIndex * 3 * plane;
  const fr = Math.fround;
  for (let c = 0; c < 3; c++) {
    const off = base + c * plane;
    for (let p = 0; p < plane; p++) {
      const x = f32At(data, off + p);
      const v = range === '-1..1' ? fr(fr(x / 2) + 0.5) : x;
      out[p * 3 + c] = roundHalfEven(fr((v <= 0 ? 0 : v >= 1 ? 1 : v) * 255));
    }
  }
  return out;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
