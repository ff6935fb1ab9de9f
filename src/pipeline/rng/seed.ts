// Argument checks of the generators. The seed range is the job contract's.
import { MAX_SEED } from '../../contract/seed.js';

/** Throws RangeError unless `seed` is an integer in [0, 2^32-1]. */
export function assertSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`seed must be an integer from 0 to ${MAX_SEED}, got ${String(seed)}`);
  }
}

/** Throws RangeError unless `n` is a count of values to draw (an integer >= 0). */
export function assertCount(n: number): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`n must be a whole number of values (>= 0), got ${String(n)}`);
  }
}
