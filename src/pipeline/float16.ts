// IEEE 754 half precision <-> float32, for fp16 model inputs and outputs
// (Node 20 has no Float16Array). Round-to-nearest-even, with subnormals, inf and NaN.
import { f32At, u16At, u32At } from '../checked.js';
import { ModelFaultError } from './errors.js';
import type { PlainTensor } from './onnx/index.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32At(u32, 0);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && half & 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (rem > 0x1000 || (rem === 0x1000 && half & 1) ? half + 1 : half);
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function floatsToHalf(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) out[i] = toHalfBits(f32At(src, i));
  return out;
}

export function halfToFloats(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) out[i] = fromHalfBits(u16At(src, i));
  return out;
}

/** A float32 or float16 model output as float32 (into `out` when given; a float32 tensor's own data otherwise). */
export function asFloat32(t: PlainTensor, out?: Float32Array): Float32Array {
  if (t.type === 'float32') {
    if (out) {
      out.set(t.data as Float32Array);
      return out;
    }
    return t.data as Float32Array;
  }
  if (t.type === 'float16') return halfToFloats(t.data as Uint16Array, out);
  throw new ModelFaultError(`model returned ${t.type} where float was expected`);
}
