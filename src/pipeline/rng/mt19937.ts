// The 32-bit Mersenne Twister (Matsumoto & Nishimura, 1998), seeded with the reference
// `init_genrand`. Both numpy's legacy RandomState(int) and torch's CPU generator seed it
// this way, so one implementation serves both.
import { u32At } from '../../checked.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  /** `seed` must be an integer in [0, 2^32-1]; callers validate it. */
  constructor(seed: number) {
    let value = seed >>> 0;
    this.state[0] = value;
    for (let i = 1; i < N; i++) {
      value = (Math.imul(1812433253, value ^ (value >>> 30)) + i) >>> 0;
      this.state[i] = value;
    }
  }

  /** The next 32-bit output, as an unsigned integer. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = u32At(this.state, this.index++);
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.state;
    for (let k = 0; k < N; k++) {
      const y = (u32At(mt, k) & UPPER_MASK) | (u32At(mt, (k + 1) % N) & LOWER_MASK);
      mt[k] = u32At(mt, (k + M) % N) ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }
}
