// Midjourney-style permutations: every `{a, b, c}` in a prompt stands for each of its
// options in turn, so `a {red, blue} {circle, square}` is four prompts. Options are
// separated by the commas at the group's own level and trimmed; an option may hold
// groups of its own (`{red, {dark, light} blue}` is three options). The leftmost group
// varies slowest, as when reading. `\{` and `\}` are literal braces (the backslash goes;
// other backslashes stay for the emphasis syntax). A `{` without its `}`, or a `}`
// without its `{`, is literal text. Apply permutations before the inline parameters, so
// `--ar {1:1, 16:9}` works as in Midjourney.
import { at, popLast } from '../checked.js';
import { TooManyPermutationsError } from './errors.js';

/** Literal text and groups; each group option is itself a template. */
type Template = (string | Template[])[];

/** How many prompts `expandPermutations` would make, without making them (Infinity past the float range). */
export function countPermutations(prompt: string): number {
  return countTemplate(parseTemplate(prompt));
}

/** Every prompt the `{…}` groups make, leftmost group slowest; TooManyPermutationsError above `max`. */
export function expandPermutations(prompt: string, max: number): string[] {
  const template = parseTemplate(prompt);
  const count = countTemplate(template);
  if (count > max) throw new TooManyPermutationsError(count, max);
  return expandTemplate(template);
}

function countTemplate(template: Template): number {
  let count = 1;
  for (const part of template) {
    if (typeof part !== 'string') count *= part.reduce((sum, option) => sum + countTemplate(option), 0);
  }
  return count;
}

function expandTemplate(template: Template): string[] {
  let prompts = [''];
  for (const part of template) {
    const choices = typeof part === 'string' ? [part] : part.flatMap(expandTemplate);
    prompts = prompts.flatMap((prefix) => choices.map((choice) => prefix + choice));
  }
  return prompts;
}

/** Parses braces into groups; unmatched braces stay text. */
function parseTemplate(prompt: string): Template {
  const matching = matchBraces(prompt);
  let pos = 0;

  /** Parts up to `end` (exclusive), splitting on top-level commas when `options` is set. */
  const parse = (end: number, options: boolean): Template[] => {
    const result: Template[] = [];
    let parts: Template = [];
    let text = '';
    const flush = () => {
      if (text) parts.push(text);
      text = '';
    };
    while (pos < end) {
      const c = prompt.charAt(pos);
      const close = c === '{' ? matching.get(pos) : undefined;
      if (c === '\\' && (prompt[pos + 1] === '{' || prompt[pos + 1] === '}')) {
        text += prompt[pos + 1];
        pos += 2;
      } else if (close !== undefined) {
        pos++;
        const group = parse(close, true);
        pos = close + 1;
        flush();
        parts.push(group);
      } else if (c === ',' && options) {
        flush();
        result.push(trimTemplate(parts));
        parts = [];
        pos++;
      } else {
        text += c;
        pos++;
      }
    }
    flush();
    result.push(options ? trimTemplate(parts) : parts);
    return result;
  };
  return at(parse(prompt.length, false), 0);
}

/** `{` index -> matching `}` index, for the braces that match (escaped ones never do). */
function matchBraces(prompt: string): Map<number, number> {
  const matching = new Map<number, number>();
  const open: number[] = [];
  for (let i = 0; i < prompt.length; i++) {
    const c = prompt[i];
    if (c === '\\' && (prompt[i + 1] === '{' || prompt[i + 1] === '}')) i++;
    else if (c === '{') open.push(i);
    else if (c === '}' && open.length > 0) matching.set(popLast(open), i);
  }
  return matching;
}

/** An option without the whitespace around it (the text at its two ends). */
function trimTemplate(parts: Template): Template {
  const trimmed = [...parts];
  if (typeof trimmed[0] === 'string') trimmed[0] = trimmed[0].trimStart();
  const last = trimmed.length - 1;
  if (typeof trimmed[last] === 'string') trimmed[last] = trimmed[last].trimEnd();
  return trimmed.filter((part) => part !== '');
}
