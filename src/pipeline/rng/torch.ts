// torch's CPU generator: `torch.Generator('cpu').manual_seed(seed)` followed by
// `torch.randn(n, generator=g)` (float32, what diffusers draws for fp32 latents) or
// `dtype=torch.float64`, reproducing torch's CPU normal kernel:
//
// * n >= 16: fill all n slots with uniforms, then Box-Muller in blocks of 16 (slot j pairs
//   with j + 8: cos into j, sin into j + 8). When n is not a multiple of 16 the last 16
//   slots get fresh uniforms and are transformed again. float32 uses 24-bit uniforms and
//   the AVX2 float32 math of avx-math.ts; float64 uses 53-bit uniforms and float64 math.
// * n < 16: one value at a time from a float64 Box-Muller that keeps its second value
//   (the sine) in the generator for the next draw, as `at::normal_distribution<double>`.
//
// The generator state (MT19937 position and the cached normal) carries over between
// calls, so successive randn calls continue one stream as they do in torch.
//
// float32 values are bit-identical to torch on x86-64 CPUs with AVX2 (the shared vectors,
// and diffusers on Linux/Windows). torch on other CPUs (ARM, no AVX2) uses libm's logf/cosf
// for n >= 16 instead, which differs from these values in the last bits.
import { f32At, f64At } from '../../checked.js';
import type { NoiseSource } from '../schedulers/types.js';
import { avxLogf, avxSincosf } from './avx-math.js';
import { Mt19937 } from './mt19937.js';
import { assertCount, assertSeed } from './seed.js';

const f32 = Math.fround;
const BLOCK = 16;
const HALF = 8;
const TWO_PI_F32 = f32(2 * Math.PI);

export class TorchCpuGenerator implements NoiseSource {
  private readonly mt: Mt19937;
  /** The generator's cached second value of the scalar Box-Muller (null when empty). */
  private nextDoubleNormal: number | null = null;
  private readonly sincos = new Float64Array(2);

  /** `manual_seed(seed)`; torch seeds its MT19937 with the low 32 bits, which is all a seed here has. */
  constructor(seed: number) {
    assertSeed(seed);
    this.mt = new Mt19937(seed);
  }

  /** `torch.randn(n, generator=g)` (float32). */
  randn(n: number): Float32Array {
    assertCount(n);
    return this.fill(
      new Float32Array(n),
      () => this.uniformFloat32(),
      (data, start) => this.boxMullerFloat32(data, start),
    );
  }

  /** `torch.randn(n, generator=g, dtype=torch.float64)`. */
  randnFloat64(n: number): Float64Array {
    assertCount(n);
    return this.fill(new Float64Array(n), () => this.uniformFloat64(), boxMullerFloat64);
  }

  /** torch's CPU normal kernel over `out`, with the uniform source and block transform of its dtype. */
  private fill<T extends Float32Array | Float64Array>(out: T, uniform: () => number, boxMuller: (data: T, start: number) => void): T {
    const n = out.length;
    if (n < BLOCK) {
      for (let i = 0; i < n; i++) out[i] = this.scalarNormal();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = uniform();
    for (let i = 0; i + BLOCK <= n; i += BLOCK) boxMuller(out, i);
    if (n % BLOCK !== 0) {
      for (let i = n - BLOCK; i < n; i++) out[i] = uniform();
      boxMuller(out, n - BLOCK);
    }
    return out;
  }

  /** A uniform in [0, 1) from the low 24 bits of one draw (exact in float32). */
  private uniformFloat32(): number {
    return (this.mt.nextUint32() & 0xffffff) / 16777216;
  }

  /** A uniform in [0, 1) from the low 53 bits of two draws (first draw = high word). */
  private uniformFloat64(): number {
    const high = this.mt.nextUint32() & 0x1fffff;
    const low = this.mt.nextUint32();
    return (high * 4294967296 + low) / 9007199254740992;
  }

  private scalarNormal(): number {
    if (this.nextDoubleNormal !== null) {
      const cached = this.nextDoubleNormal;
      this.nextDoubleNormal = null;
      return cached;
    }
    const u1 = this.uniformFloat64();
    const u2 = this.uniformFloat64();
    const radius = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }

  private boxMullerFloat32(data: Float32Array, start: number): void {
    const sincos = this.sincos;
    for (let j = start; j < start + HALF; j++) {
      const radius = f32(Math.sqrt(f32(-2 * avxLogf(f32(1 - f32At(data, j))))));
      avxSincosf(f32(TWO_PI_F32 * f32At(data, j + HALF)), sincos);
      data[j] = radius * f64At(sincos, 1);
      data[j + HALF] = radius * f64At(sincos, 0);
    }
  }
}

function boxMullerFloat64(data: Float64Array, start: number): void {
  for (let j = start; j < start + HALF; j++) {
    const radius = Math.sqrt(-2 * Math.log(1 - f64At(data, j)));
    const theta = 2 * Math.PI * f64At(data, j + HALF);
    data[j] = radius * Math.cos(theta);
    data[j + HALF] = radius * Math.sin(theta);
  }
}
