// numpy's legacy `np.random.RandomState(seed)`: MT19937 seeded with init_genrand (what
// RandomState does for an integer seed), 53-bit doubles from two draws, and `randn` by
// the Marsaglia polar method keeping the second value of each pair for the next call.
import type { NoiseSource } from '../schedulers/types.js';
import { Mt19937 } from './mt19937.js';
import { assertCount, assertSeed } from './seed.js';

export class NumpyRandomState implements NoiseSource {
  private readonly mt: Mt19937;
  /** legacy_gauss's cached second value of the last polar pair (null when empty). */
  private gaussCache: number | null = null;

  constructor(seed: number) {
    assertSeed(seed);
    this.mt = new Mt19937(seed);
  }

  /** `random_sample()`: a double in [0, 1) with 53 random bits. */
  randomSample(): number {
    const a = this.mt.nextUint32() >>> 5;
    const b = this.mt.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `randn(n)` as numpy returns it (float64). */
  randnFloat64(n: number): Float64Array {
    assertCount(n);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.gauss();
    return out;
  }

  /** `randn(n).astype(np.float32)`, as diffusers draws numpy latents. */
  randn(n: number): Float32Array {
    return Float32Array.from(this.randnFloat64(n));
  }

  private gauss(): number {
    if (this.gaussCache !== null) {
      const cached = this.gaussCache;
      this.gaussCache = null;
      return cached;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.randomSample() - 1;
      x2 = 2 * this.randomSample() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.gaussCache = f * x1;
    return f * x2;
  }
}
