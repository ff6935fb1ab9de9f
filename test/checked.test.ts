// The checked index reads: the value when in range, IndexOutOfRangeError (an internal,
// non-retryable, not user-visible failure) when not, for every array kind.
import { describe, expect, it } from 'vitest';
import { at, f32At, f64At, IndexOutOfRangeError, popLast, u16At, u32At, u8At } from '../src/checked.js';
import { isRetryable, isUserVisible } from '../src/errors.js';

describe('checked index reads', () => {
  const cases: [string, (i: number) => unknown, unknown][] = [
    ['at', (i) => at(['a', null, 'c'], i), null],
    ['f32At', (i) => f32At(Float32Array.of(1, 0.5, 3), i), 0.5],
    ['f64At', (i) => f64At(Float64Array.of(1, 0.1, 3), i), 0.1],
    ['u8At', (i) => u8At(Buffer.from([1, 255, 3]), i), 255],
    ['u16At', (i) => u16At(Uint16Array.of(1, 65535, 3), i), 65535],
    ['u32At', (i) => u32At(Uint32Array.of(1, 2 ** 32 - 1, 3), i), 2 ** 32 - 1],
  ];
  for (const [name, read, atOne] of cases) {
    it(`${name} returns the element in range and throws IndexOutOfRangeError outside`, () => {
      expect(read(1)).toBe(atOne);
      for (const index of [-1, 3, 1.5, NaN]) expect(() => read(index)).toThrow(IndexOutOfRangeError);
      expect(() => read(3)).toThrow('internal error: index 3 is out of range for a length of 3');
    });
  }

  it('is an internal error: not shown to the user, not retried', () => {
    const error = new IndexOutOfRangeError(5, 2);
    expect(isUserVisible(error)).toBe(false);
    expect(isRetryable(error)).toBe(false);
    expect(error.name).toBe('IndexOutOfRangeError');
  });

  it('at refuses a hole of a sparse array', () => {
    const sparse = new Array<string>(2);
    sparse[1] = 'b';
    expect(at(sparse, 1)).toBe('b');
    expect(() => at(sparse, 0)).toThrow(IndexOutOfRangeError);
  });

  it('popLast removes the last item and throws on an empty array', () => {
    const stack = [1, 2];
    expect(popLast(stack)).toBe(2);
    expect(stack).toEqual([1]);
    expect(popLast(stack)).toBe(1);
    expect(() => popLast(stack)).toThrow(IndexOutOfRangeError);
  });
});
