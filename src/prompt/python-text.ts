// Python's `re` character classes on str patterns, where they differ from JavaScript's:
// A1111's parsers use `\s`, `\b` and `\d` with Python's Unicode meanings.

/** Python's `\s`: str.isspace() (JavaScript's \s lacks U+001C-U+001F and U+0085, and adds U+FEFF). */
export const PY_SPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';

/** Python's `\w`: letters, numbers and `_` in any script (JavaScript's \w is ASCII only). */
export const PY_WORD = '[\\p{L}\\p{N}_]';

const DECIMAL_DIGIT = /\p{Nd}/u;

/**
 * Python's float() of a string made of `+`, `-`, `.` and decimal digits of any script
 * (float('١.٥') is 1.5); NaN where Python raises ValueError.
 */
export function pythonFloat(text: string): number {
  if (!/^[+-]?(?:\p{Nd}+\.?\p{Nd}*|\.\p{Nd}+)$/u.test(text)) return NaN;
  let ascii = '';
  for (const ch of text) {
    const code = ch.codePointAt(0);
    ascii += code !== undefined && DECIMAL_DIGIT.test(ch) ? String(digitValue(code)) : ch;
  }
  return Number(ascii);
}

/** Unicode assigns decimal digits in runs of ten, 0 to 9, so a digit's value is its offset in its run. */
function digitValue(codePoint: number): number {
  let start = codePoint;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
  return (codePoint - start) % 10;
}
