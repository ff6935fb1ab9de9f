// Summaries of the timings the benches measure.
import { at } from '../src/checked.js';

/** The median of the values (the upper middle one for an even count); throws when there are none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median: no values');
  return at([...values].sort((a, b) => a - b), Math.floor(values.length / 2));
}
