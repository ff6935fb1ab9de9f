// A1111 emphasis and prompt editing: src/prompt/attention.ts and schedules.ts. The
// expected values are AUTOMATIC1111's own results (modules/prompt_parser.py at commit
// 0674fabd, lark), for inputs beyond the shared vectors (which check-vectors runs).
import { describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { isBreak, parsePromptAttention, PromptSyntaxError, promptSchedules } from '../src/prompt/index.js';

describe('parsePromptAttention', () => {
  it.each([
    [
      'a (red:1.3) circle on a [blue] background',
      [
        ['a ', 1],
        ['red', 1.3],
        [' circle on a ', 1],
        ['blue', 0.9090909090909091],
        [' background', 1],
      ],
    ],
    [
      'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
      [
        ['a ', 1],
        ['house', 1.5730000000000004],
        [' ', 1.1],
        ['on', 1],
        [' a ', 1.1],
        ['hill', 0.55],
        [', sun, ', 1.1],
        ['sky', 1.4641000000000006],
        ['.', 1.1],
      ],
    ],
    // Unclosed brackets: every `(` first, then every `[` (the order shows in the last bits).
    ['([a', [['a', 1.0]]],
    ['((a:2)', [['a', 2.2]]],
    ['(a:+.5)', [['a', 0.5]]],
    // Python's float() reads digits of any script; Python's \s and \b are Unicode.
    [
      '(a:١.٥) b',
      [
        ['a', 1.5],
        [' b', 1],
      ],
    ],
    ['éBREAK x', [['éBREAK x', 1]]],
    [
      'a BREAK\u3000b',
      [
        ['a', 1],
        ['BREAK', -1],
        ['b', 1],
      ],
    ],
    [
      'a\x1cBREAK b',
      [
        ['a', 1],
        ['BREAK', -1],
        ['b', 1],
      ],
    ],
    ['\\', [['', 1]]],
    [
      'x\\\n[a:b:2]',
      [
        ['x\n', 1],
        ['a:b:2', 0.9090909090909091],
      ],
    ],
    [
      '(a:b:1)[c:d:2]',
      [
        ['a:b', 1],
        ['c:d:2', 0.9090909090909091],
      ],
    ],
    [
      '[[a|b]:[c|d]:3]',
      [
        ['a|b', 0.8264462809917354],
        [':', 0.9090909090909091],
        ['c|d', 0.8264462809917354],
        [':3', 0.9090909090909091],
      ],
    ],
  ] as const)('%j', (prompt, expected) => {
    expect(parsePromptAttention(prompt)).toEqual(expected);
  });

  it('weights are A1111 float64 products, compared exactly', () => {
    const weight = at(parsePromptAttention('(mixed [nest (deeper:1.5)] out:0.8)'), 2)[1];
    // 1.5, then 1/1.1, then 0.8, as A1111 multiplies; 1.5 * 0.8 / 1.1 would be 1.090909090909091.
    expect(weight).toBe(1.0909090909090908);
  });

  it('marks BREAK only where A1111 does: a word of its own, outside brackets', () => {
    const pieces = parsePromptAttention('a BREAK b (c BREAK d:1.3) aBREAK');
    expect(pieces.filter(isBreak)).toHaveLength(1);
    expect(pieces).toContainEqual(['BREAK', -1.3]);
  });

  it('a weight that is not a number is a PromptSyntaxError (A1111 raises ValueError)', () => {
    for (const prompt of ['(red:1.2.3) circle', '(a:.)']) {
      expect(() => parsePromptAttention(prompt)).toThrow(PromptSyntaxError);
    }
    expect(() => parsePromptAttention('(red:1.2.3) circle')).toThrow(
      'the weight "1.2.3" in ":1.2.3)" is not a number; write weights like (red:1.3)',
    );
    // Without an open bracket A1111 reads it as text, and so do we.
    expect(parsePromptAttention('red:1.2.3) circle')).toEqual([['red:1.2.3) circle', 1]]);
  });
});

describe('promptSchedules', () => {
  const alternating = (odd: string, even: string, steps: number) =>
    Array.from({ length: steps }, (_, i) => [i + 1, i % 2 === 0 ? odd : even]);

  it.each([
    [
      'a [b:c:0.25] d',
      20,
      [
        [5, 'a b d'],
        [20, 'a c d'],
      ],
    ],
    [
      'a [b:3]',
      10,
      [
        [3, 'a '],
        [10, 'a b'],
      ],
    ],
    [
      'a [b::5]',
      10,
      [
        [5, 'a b'],
        [10, 'a '],
      ],
    ],
    ['[a:b:1e1]', 10, [[10, 'a']]],
    [
      '[a:b:1.5e-1]',
      10,
      [
        [1, 'a'],
        [10, 'b'],
      ],
    ],
    [
      '[a:b:2.]',
      10,
      [
        [2, 'a'],
        [10, 'b'],
      ],
    ],
    [
      '[a:b: \t3]',
      10,
      [
        [3, 'a'],
        [10, 'b'],
      ],
    ],
    [
      '[a:b:-0.5]',
      10,
      [
        [-5, 'a'],
        [10, 'b'],
      ],
    ],
    [
      '[a:b:-0]',
      10,
      [
        [0, 'a'],
        [10, 'b'],
      ],
    ],
    [
      '[a\\|b:c:2]',
      10,
      [
        [2, 'a\\|b'],
        [10, 'c'],
      ],
    ],
    [
      '(a [b:c:1]:1.5)',
      10,
      [
        [1, '(a b:1.5)'],
        [10, '(a c:1.5)'],
      ],
    ],
    [
      '(a:b:1)[c:d:2]',
      10,
      [
        [2, '(a:b:1)c'],
        [10, '(a:b:1)d'],
      ],
    ],
    // Not valid constructs: text, the prompt unchanged.
    ['[a:b:3 ]', 10, [[10, '[a:b:3 ]']]],
    ['[a|b:3]', 10, [[10, '[a|b:3]']]],
    // No parse at all (a `|` outside brackets, a backslash before a newline): the prompt for every step.
    ['a | b [c:d:2]', 10, [[10, 'a | b [c:d:2]']]],
    ['x\\\n[a:b:2]', 10, [[10, 'x\\\n[a:b:2]']]],
  ] as const)('%j at %i steps', (prompt, steps, expected) => {
    expect(promptSchedules(prompt, steps)).toEqual(expected);
  });

  it('alternates every step, and a schedule anywhere adds its step', () => {
    expect(promptSchedules('[red|blue] circle', 4)).toEqual(alternating('red circle', 'blue circle', 4));
    // A1111 counts step 0 too and alternates on it as (0 - 1) mod 2.
    expect(promptSchedules('[a|b] [c:d:0]', 3)).toEqual([
      [0, 'b c'],
      [1, 'a d'],
      [2, 'b d'],
      [3, 'a d'],
    ]);
    // Steps of schedules inside branches A1111 never shows still count.
    expect(promptSchedules('[a [b:c:3]|d]', 4)).toEqual(alternating('a ', 'd', 4));
  });

  it('an alternative shows only its first item, as in A1111', () => {
    expect(promptSchedules('[a (b)|c]', 2)).toEqual([
      [1, 'a '],
      [2, 'c'],
    ]);
    expect(promptSchedules('[ a|b]', 2)).toEqual([
      [1, ' a'],
      [2, 'b'],
    ]);
    expect(promptSchedules('[[a|b]:[c|d]:3]', 6)).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'a'],
      [4, 'd'],
      [5, 'c'],
      [6, 'd'],
    ]);
  });

  it('an empty alternative is empty text where A1111 raises', () => {
    expect(promptSchedules('[a|]', 3)).toEqual([
      [1, 'a'],
      [2, ''],
      [3, 'a'],
    ]);
    expect(promptSchedules('[|b] x', 2)).toEqual([
      [1, ' x'],
      [2, 'b x'],
    ]);
  });

  it('keeps every valid construct where A1111 answers differently from one run to the next', () => {
    // A1111 gives [[10, '[a:1])']] or [[1, ')'], [10, 'a)']] depending on PYTHONHASHSEED.
    expect(promptSchedules('[a:1])', 10)).toEqual([
      [1, ')'],
      [10, 'a)'],
    ]);
  });

  it('a step number beyond the float range is a PromptSyntaxError', () => {
    expect(() => promptSchedules('[a:b:1e999]', 10)).toThrow(PromptSyntaxError);
    expect(() => promptSchedules('[a:b:1e999]', 10)).toThrow('the step number 1e999 in a [from:to:when] edit is too large');
  });

  it('parses long prompts in linear time', () => {
    const prompt = '('.repeat(1000) + '[a|b] ' + '[c:d:0.5] '.repeat(100);
    const started = performance.now();
    expect(promptSchedules(prompt, 20)).toHaveLength(20);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
