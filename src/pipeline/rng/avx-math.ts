// float32 logarithm and sine/cosine exactly as torch's AVX2 `randn` kernel computes them.
//
// torch (x86-64 builds) turns uniforms into normals with the Cephes-style polynomial
// approximations of avx_mathfun.h, compiled by GCC with -mfma. GCC fuses a multiply into
// the add or subtract that consumes it (the first such multiply in statement order when
// two compete), so the sequence below uses a fused multiply-add exactly where GCC does.
// Every other step is one float32 operation (Math.fround after a float64 operation on
// float32 inputs is the correctly rounded float32 result for +, -, *, sqrt).
// Checked bit for bit against a GCC 12 -O2 -mavx2 -mfma build of the same sequence for
// all 2^24 inputs torch can produce, and against the torch vectors.

import { endianness } from 'node:os';
import { f32At, f64At, u32At } from '../../checked.js';

const f32 = Math.fround;

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
// Index of the low 32-bit word of a float64 in scratchWords.
const LOW_WORD = endianness() === 'LE' ? 0 : 1;
const HIGH_WORD = 1 - LOW_WORD;

/**
 * float32 fused multiply-add, a*b + c rounded once. The product of two float32 is exact in
 * float64; the float64 sum is exact up to `err` (two-sum). Rounding that sum to float32
 * is correct unless it sits on a float32 tie or value while `err` is non-zero; those
 * points have an even last float64 bit, so in that case step one float64 towards `err`.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const back = s - p;
  const err = p - (s - back) + (c - back);
  if (err === 0 || !Number.isFinite(s)) return f32(s);
  scratch[0] = s;
  const low = u32At(scratchWords, LOW_WORD);
  if ((low & 1) === 0) {
    if (err > 0 === s > 0) {
      scratchWords[LOW_WORD] = low | 1;
    } else if (low === 0) {
      scratchWords[LOW_WORD] = 0xffffffff;
      scratchWords[HIGH_WORD] = u32At(scratchWords, HIGH_WORD) - 1;
    } else {
      scratchWords[LOW_WORD] = low - 1;
    }
  }
  return f32(f64At(scratch, 0));
}

const bitsView = new Float32Array(1);
const bitsWords = new Uint32Array(bitsView.buffer);

const SMALLEST_NORMAL = f32(1.17549435e-38);
const SQRT_HALF = f32(Math.SQRT1_2);
const LOG_P = Float64Array.from(
  [
    7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1,
    -2.4999993993e-1, 3.3333331174e-1,
  ],
  f32,
);
const LOG_Q1 = f32(-2.1219444e-4);
const LOG_Q2 = f32(0.693359375);

/** Natural log of a positive float32 (torch passes 1 - u, in (0, 1]). */
export function avxLogf(value: number): number {
  bitsView[0] = Math.max(value, SMALLEST_NORMAL);
  const bits = u32At(bitsWords, 0);
  let e = f32((bits >>> 23) - 127 + 1);
  // The mantissa as a number in [0.5, 1).
  bitsWords[0] = (bits & 0x807fffff) | 0x3f000000;
  let x = f32At(bitsView, 0);
  if (x < SQRT_HALF) {
    e = f32(e - 1);
    x = f32(f32(x - 1) + x);
  } else {
    x = f32(x - 1);
  }
  const z = f32(x * x);
  let y = f64At(LOG_P, 0);
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, x, f64At(LOG_P, k));
  y = f32(y * x);
  y = fmaf(y, z, f32(e * LOG_Q1));
  y = fmaf(-z, 0.5, y);
  return fmaf(e, LOG_Q2, f32(x + y));
}

const FOUR_OVER_PI = f32(1.27323954473516);
const MINUS_DP1 = f32(-0.78515625);
const MINUS_DP2 = f32(-2.4187564849853515625e-4);
const MINUS_DP3 = f32(-3.774894977445941e-8); // avx_mathfun.h's -3.77489497744594108e-8, as a float64
const SIN_P = [f32(-1.9515295891e-4), f32(8.3321608736e-3), f32(-1.6666654611e-1)] as const;
const COS_P = [f32(2.443315711809948e-5), f32(-1.388731625493765e-3), f32(4.166664568298827e-2)] as const;

/** Sine and cosine of a float32 (torch passes 2*pi*u, in [0, 2*pi)); writes [sin, cos] into `out`. */
export function avxSincosf(value: number, out: Float64Array): void {
  let sinNegative = value < 0;
  let x = Math.abs(value);
  // Octant j (made even), and x reduced to [-pi/4, pi/4] in three float32 steps.
  const j = ((Math.trunc(f32(x * FOUR_OVER_PI)) | 0) + 1) & ~1;
  x = fmaf(j, MINUS_DP1, x);
  x = fmaf(j, MINUS_DP2, x);
  x = fmaf(j, MINUS_DP3, x);
  if (j & 4) sinNegative = !sinNegative;
  const cosNegative = (~(j - 2) & 4) !== 0;
  const z = f32(x * x);

  let cosPoly = fmaf(fmaf(COS_P[0], z, COS_P[1]), z, COS_P[2]);
  cosPoly = f32(cosPoly * z);
  cosPoly = f32(fmaf(cosPoly, z, -f32(z * 0.5)) + 1);
  let sinPoly = fmaf(fmaf(SIN_P[0], z, SIN_P[1]), z, SIN_P[2]);
  sinPoly = fmaf(f32(sinPoly * z), x, x);

  const swap = (j & 2) !== 0;
  const sin = swap ? cosPoly : sinPoly;
  const cos = swap ? sinPoly : cosPoly;
  out[0] = sinNegative ? -sin : sin;
  out[1] = cosNegative ? -cos : cos;
}
