// Index reads that TypeScript's noUncheckedIndexedAccess cannot prove in range: where the
// index comes from the code itself (a loop bound, a length checked before), an index out
// of range is a bug, and these throw IndexOutOfRangeError at the read instead of letting
// `undefined` flow on (as NaN in arithmetic). Reads of outside data (a user's option, a
// parsed file) check their `undefined` where they happen, with a message for that case.
//
// One function per array kind, on purpose: V8 optimises a read by the kinds of arrays it
// has seen at that line, so one generic function called with Float32Array, Float64Array
// and plain arrays turns the reads of every hot loop into slow generic ones (about 14x in
// a scheduler step), while a function that only ever sees one kind is inlined and costs
// nothing measurable. Keep `at` out of hot loops for the same reason.
import { AppError } from './errors.js';

/** An index out of range where the code computed the index: an internal bug. */
export class IndexOutOfRangeError extends AppError {
  constructor(index: number, length: number) {
    super(`internal error: index ${index} is out of range for a length of ${length}`, {
      userVisible: false,
      retryable: false,
    });
  }
}

/** `items[index]` of a plain array; throws IndexOutOfRangeError when out of range (or a hole). */
export function at<T extends NonNullable<unknown> | null>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new IndexOutOfRangeError(index, items.length);
  return item;
}

/** `a[index]` of a Float32Array; throws IndexOutOfRangeError when out of range. Fast in hot loops. */
export function f32At(a: Float32Array, index: number): number {
  const value = a[index];
  if (value === undefined) throw new IndexOutOfRangeError(index, a.length);
  return value;
}

/** `a[index]` of a Float64Array; throws IndexOutOfRangeError when out of range. Fast in hot loops. */
export function f64At(a: Float64Array, index: number): number {
  const value = a[index];
  if (value === undefined) throw new IndexOutOfRangeError(index, a.length);
  return value;
}

/** `a[index]` of a Uint32Array; throws IndexOutOfRangeError when out of range. Fast in hot loops. */
export function u32At(a: Uint32Array, index: number): number {
  const value = a[index];
  if (value === undefined) throw new IndexOutOfRangeError(index, a.length);
  return value;
}

/** `a[index]` of a Uint8Array; throws IndexOutOfRangeError when out of range. Fast in hot loops. */
export function u8At(a: Uint8Array, index: number): number {
  const value = a[index];
  if (value === undefined) throw new IndexOutOfRangeError(index, a.length);
  return value;
}

/** `a[index]` of a Uint16Array; throws IndexOutOfRangeError when out of range. Fast in hot loops. */
export function u16At(a: Uint16Array, index: number): number {
  const value = a[index];
  if (value === undefined) throw new IndexOutOfRangeError(index, a.length);
  return value;
}

/** `items.pop()` where the code knows `items` is not empty; throws IndexOutOfRangeError when it is. */
export function popLast<T extends NonNullable<unknown> | null>(items: T[]): T {
  const item = items.pop();
  if (item === undefined) throw new IndexOutOfRangeError(-1, 0);
  return item;
}
