// Midjourney-style inline parameters and {a, b} permutations: src/prompt/parameters.ts and permutations.ts.
import { describe, expect, it } from 'vitest';
import {
  countPermutations,
  expandPermutations,
  InlineParameterError,
  parseInlineParameters,
  TooManyPermutationsError,
} from '../src/prompt/index.js';

describe('parseInlineParameters', () => {
  it('takes every flag out, values up to the next flag, by canonical name', () => {
    expect(parseInlineParameters('a (red:1.3) circle  --ar 16:9 --no blue, green  --seed 42 --steps 30')).toEqual({
      prompt: 'a (red:1.3) circle',
      values: { ar: '16:9', no: 'blue, green', seed: '42', steps: '30' },
    });
    expect(parseInlineParameters('x --cfg 7 --sampler euler_a --count 4 --model shapes-demo --strength 0.6')).toEqual({
      prompt: 'x',
      values: { cfg: '7', sampler: 'euler_a', count: '4', model: 'shapes-demo', strength: '0.6' },
    });
  });

  it('accepts the aliases --guidance and --n, any case, and an em dash for --', () => {
    expect(parseInlineParameters('x --guidance 5 --N 2 —ar 1:1').values).toEqual({ cfg: '5', count: '2', ar: '1:1' });
  });

  it('does not validate values: that is the job contract', () => {
    expect(parseInlineParameters('x --seed twelve --steps 1e9').values).toEqual({ seed: 'twelve', steps: '1e9' });
  });

  it('leaves a prompt without flags as it is, trimmed', () => {
    expect(parseInlineParameters('  a red circle, (blue) background ')).toEqual({ prompt: 'a red circle, (blue) background', values: {} });
  });

  it('keeps -- in double quotes and \\-- as text (the backslash goes)', () => {
    expect(parseInlineParameters('a "sign saying --ar" b \\--seed 3 --no x')).toEqual({
      prompt: 'a "sign saying --ar" b --seed 3',
      values: { no: 'x' },
    });
    expect(parseInlineParameters('a “quoted --no” b').prompt).toBe('a “quoted --no” b');
    // An unclosed quote is an ordinary character.
    expect(parseInlineParameters('a "unclosed --seed 3')).toEqual({ prompt: 'a "unclosed', values: { seed: '3' } });
  });

  it('reads -- as a flag only after whitespace and before a letter', () => {
    expect(parseInlineParameters('red--blue -- x ---y --5').prompt).toBe('red--blue -- x ---y --5');
  });

  it('rejects an unknown flag, listing the known ones', () => {
    expect(() => parseInlineParameters('a cat --stylize 100')).toThrow(InlineParameterError);
    expect(() => parseInlineParameters('a cat --stylize 100')).toThrow(
      'unknown parameter --stylize; known parameters: --ar, --no, --seed, --steps, --cfg (or --guidance), --sampler, --count (or --n), --model, --strength',
    );
  });

  it('rejects a flag given twice, also under two spellings', () => {
    expect(() => parseInlineParameters('a --seed 1 --seed 2')).toThrow('--seed is given twice; give it once');
    expect(() => parseInlineParameters('a --cfg 1 --guidance 2')).toThrow('--cfg is given twice (as --cfg and --guidance); give it once');
  });

  it('rejects a flag without a value, with an example', () => {
    expect(() => parseInlineParameters('a --seed --steps 3')).toThrow('--seed needs a value, e.g. --seed 1234');
    expect(() => parseInlineParameters('a --n')).toThrow('--n needs a value, e.g. --n 4');
  });
});

describe('permutations', () => {
  it('expands every group, the leftmost slowest', () => {
    expect(expandPermutations('a {red, blue} {circle, square}', 10)).toEqual([
      'a red circle',
      'a red square',
      'a blue circle',
      'a blue square',
    ]);
  });

  it('nests: an option may hold groups, and only its own level splits on commas', () => {
    expect(expandPermutations('a {red, {dark, light} blue} car', 10)).toEqual(['a red car', 'a dark blue car', 'a light blue car']);
    expect(expandPermutations('{a, b {c, d}, e}', 10)).toEqual(['a', 'b c', 'b d', 'e']);
  });

  it('keeps escaped and unmatched braces as text', () => {
    expect(expandPermutations('\\{x\\} {a, b', 10)).toEqual(['{x} {a, b']);
    expect(expandPermutations('a} {b, c} {d', 10)).toEqual(['a} b {d', 'a} c {d']);
    // Other escapes belong to the emphasis syntax and stay.
    expect(expandPermutations('\\(a\\) {b, c}', 10)).toEqual(['\\(a\\) b', '\\(a\\) c']);
  });

  it('empty options and a prompt without groups', () => {
    expect(expandPermutations('a {red,} circle', 10)).toEqual(['a red circle', 'a  circle']);
    expect(expandPermutations('a (red) circle, blue', 10)).toEqual(['a (red) circle, blue']);
  });

  it('counts without expanding, and refuses above the maximum with the count', () => {
    const prompt = '{a,b}{c,{d,e,f}}'.repeat(20);
    expect(countPermutations('{a,b}{c,{d,e,f}}')).toBe(8);
    expect(countPermutations(prompt)).toBe(8 ** 20);
    expect(() => expandPermutations(prompt, 40)).toThrow(TooManyPermutationsError);
    try {
      expandPermutations('{a,b}{c,d}{e,f}', 4);
    } catch (err) {
      expect(err).toMatchObject({ count: 8, max: 4, message: 'the {…} choices in this prompt make 8 prompts; at most 4 are allowed' });
    }
    expect.assertions(4);
  });
});
