// AUTOMATIC1111's emphasis syntax, as its `parse_prompt_attention` reads it:
//   (text) x1.1   [text] /1.1   (text:1.3) x1.3   \( \) \[ \] \\ literal characters
//   BREAK (a whole word, in capitals) ends the current 75-token chunk.
// Unclosed brackets apply to the end of the prompt (all `(` first, then all `[`),
// unmatched closing ones are text. Weights are float64 products in A1111's order, so
// they compare exactly with its output.
import { at, popLast } from '../checked.js';
import { PromptSyntaxError } from './errors.js';
import { PY_SPACE, PY_WORD, pythonFloat } from './python-text.js';

/** A piece of prompt text and its weight; `['BREAK', -1]` stands for BREAK. */
export type WeightedText = [text: string, weight: number];

export const BREAK: WeightedText = ['BREAK', -1];

// A1111's re_attention, alternatives in its order (the order decides ties).
const ATTENTION_TOKEN = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:([+-]?[.\p{Nd}]+)\)|\)|\]|[^\\()[\]:]+|:/gu;
// A1111's re_break (`\s*\bBREAK\b\s*`, Python's Unicode \s and \b), applied to one run of text at a time.
const BREAK_SEPARATOR = new RegExp(`${PY_SPACE}*(?<!${PY_WORD})BREAK(?!${PY_WORD})${PY_SPACE}*`, 'u');

const ROUND_MULTIPLIER = 1.1;
const SQUARE_MULTIPLIER = 1 / 1.1;

/**
 * `parse_prompt_attention(text)` of AUTOMATIC1111: the prompt as pieces of text with
 * their weights, runs of equal weight merged. Throws PromptSyntaxError where A1111
 * raises: a weight that is not a number, as in `(red:1.2.3)`.
 */
export function parsePromptAttention(text: string): WeightedText[] {
  const result: WeightedText[] = [];
  const roundBrackets: number[] = [];
  const squareBrackets: number[] = [];
  const multiplyFrom = (start: number, multiplier: number) => {
    for (const piece of result.slice(start)) piece[1] *= multiplier;
  };

  for (const match of text.matchAll(ATTENTION_TOKEN)) {
    const token = match[0];
    const weight = match[1];
    if (token.startsWith('\\')) {
      result.push([token.slice(1), 1.0]);
    } else if (token === '(') {
      roundBrackets.push(result.length);
    } else if (token === '[') {
      squareBrackets.push(result.length);
    } else if (weight !== undefined && roundBrackets.length > 0) {
      const value = pythonFloat(weight);
      if (Number.isNaN(value)) {
        throw new PromptSyntaxError(`the weight "${weight}" in "${token}" is not a number; write weights like (red:1.3)`);
      }
      multiplyFrom(popLast(roundBrackets), value);
    } else if (token === ')' && roundBrackets.length > 0) {
      multiplyFrom(popLast(roundBrackets), ROUND_MULTIPLIER);
    } else if (token === ']' && squareBrackets.length > 0) {
      multiplyFrom(popLast(squareBrackets), SQUARE_MULTIPLIER);
    } else {
      token.split(BREAK_SEPARATOR).forEach((part, i) => {
        if (i > 0) result.push([...BREAK]);
        result.push([part, 1.0]);
      });
    }
  }
  for (const start of roundBrackets) multiplyFrom(start, ROUND_MULTIPLIER);
  for (const start of squareBrackets) multiplyFrom(start, SQUARE_MULTIPLIER);
  if (result.length === 0) result.push(['', 1.0]);

  // Merge neighbours of equal weight (A1111 merges a BREAK too when its weight happens to match).
  for (let i = 0; i + 1 < result.length;) {
    const [here, next] = [at(result, i), at(result, i + 1)];
    if (here[1] === next[1]) {
      here[0] += next[0];
      result.splice(i + 1, 1);
    } else {
      i++;
    }
  }
  return result;
}

/** Whether a piece is A1111's BREAK marker (a BREAK inside brackets gets another weight and is plain text to A1111). */
export function isBreak([text, weight]: WeightedText): boolean {
  return text === 'BREAK' && weight === -1;
}
