// Summaries of the timings the benches measure.
import { at } from '../src/checked.js';

/** The median of the values (the upper middle one for an even count); throws when there are none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median: no values');
  return at(
    [...values].sort((a, b) => a - b),
    Math.floor(values.length / 2),
  );
}

/** The p-th percentile (0-100) of the values, nearest rank; throws when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile: no values');
  const sorted = [...values].sort((a, b) => a - b);
  return at(sorted, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
}
