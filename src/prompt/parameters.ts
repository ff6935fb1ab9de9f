// Midjourney-style parameters typed at the end of a prompt:
//   a red circle --ar 16:9 --no blue, green --seed 42
// parseInlineParameters takes them out and returns the prompt text without them plus
// each value as written. A value runs up to the next --flag (so `--no` may be several
// words). Values are not validated here: the job contract checks every field once.
// Unknown, repeated or empty flags are InlineParameterErrors worded for the user.
// A `--` between double quotes ("…" or “…”) or written `\--` is text (the backslash
// goes). An em dash works as `--`, since phones turn `--` into `—`. A flag starts at the
// start of the prompt or after whitespace, and its name starts with a letter: `red--blue`
// and `-- ` are text.
import { at } from '../checked.js';
import { InlineParameterError } from './errors.js';

export type InlineParameterName = 'ar' | 'no' | 'seed' | 'steps' | 'cfg' | 'sampler' | 'count' | 'model' | 'strength';

export interface InlineParameterSpec {
  name: InlineParameterName;
  /** Other spellings, e.g. `--guidance` for `--cfg`. */
  aliases: readonly string[];
  /** An example value, for error messages and help. */
  example: string;
}

export const INLINE_PARAMETERS: readonly InlineParameterSpec[] = Object.freeze([
  { name: 'ar', aliases: [], example: '16:9' },
  { name: 'no', aliases: [], example: 'text, blur' },
  { name: 'seed', aliases: [], example: '1234' },
  { name: 'steps', aliases: [], example: '30' },
  { name: 'cfg', aliases: ['guidance'], example: '7.5' },
  { name: 'sampler', aliases: [], example: 'euler_a' },
  { name: 'count', aliases: ['n'], example: '4' },
  { name: 'model', aliases: [], example: 'shapes-demo' },
  { name: 'strength', aliases: [], example: '0.6' },
]);

export interface InlineParameters {
  /** The prompt without its flags, trimmed, escapes of `--` removed. */
  prompt: string;
  /** Each given flag's value as written (trimmed), by canonical name. */
  values: Partial<Record<InlineParameterName, string>>;
}

const SPEC_BY_SPELLING = new Map<string, InlineParameterSpec>(
  INLINE_PARAMETERS.flatMap((spec) => [spec.name, ...spec.aliases].map((s) => [s, spec] as const)),
);

// Candidate flags: `--name` or `—name` after whitespace or at the start; `\--`, and `--` in quotes, are skipped by the scan.
const FLAG = /(?<=^|\s)(?:--|—)([A-Za-z]\S*)/y;

export function parseInlineParameters(text: string): InlineParameters {
  const pieces = splitAtFlags(text);
  const values: InlineParameters['values'] = {};
  const spelledAs = new Map<InlineParameterName, string>();
  for (const { flag, value } of pieces.flags) {
    const spec = SPEC_BY_SPELLING.get(flag.toLowerCase());
    if (!spec) throw new InlineParameterError(`unknown parameter --${flag}; known parameters: ${knownList()}`);
    const earlier = spelledAs.get(spec.name);
    if (earlier !== undefined) {
      const as = earlier === flag ? '' : ` (as --${earlier} and --${flag})`;
      throw new InlineParameterError(`--${spec.name} is given twice${as}; give it once`);
    }
    if (value === '') throw new InlineParameterError(`--${flag} needs a value, e.g. --${flag} ${spec.example}`);
    spelledAs.set(spec.name, flag);
    values[spec.name] = value;
  }
  return { prompt: pieces.prompt, values };
}

function knownList(): string {
  return INLINE_PARAMETERS.map((s) => `--${s.name}${s.aliases.map((a) => ` (or --${a})`).join('')}`).join(', ');
}

/** The text before the first flag, and each flag with the text up to the next one (escapes of `--` removed). */
function splitAtFlags(text: string): { prompt: string; flags: { flag: string; value: string }[] } {
  const flags: { flag: string; value: string }[] = [];
  let prompt: string | null = null;
  let current = '';
  let currentFlag = '';
  const closing = closingQuotes(text);
  for (let i = 0; i < text.length;) {
    const quoteEnd = closing.get(i);
    if (quoteEnd !== undefined) {
      current += text.slice(i, quoteEnd + 1);
      i = quoteEnd + 1;
      continue;
    }
    if (text.startsWith('\\--', i)) {
      current += '--';
      i += 3;
      continue;
    }
    FLAG.lastIndex = i;
    const match = FLAG.exec(text);
    if (match) {
      if (prompt === null) prompt = current;
      else flags.push({ flag: currentFlag, value: current.trim() });
      currentFlag = at(match, 1);
      current = '';
      i = FLAG.lastIndex;
      continue;
    }
    current += text[i];
    i++;
  }
  if (prompt === null) prompt = current;
  else flags.push({ flag: currentFlag, value: current.trim() });
  return { prompt: prompt.trim(), flags };
}

/** Opening quote index -> its closing quote index, for quotes that are closed (an unclosed quote is an ordinary character). */
function closingQuotes(text: string): Map<number, number> {
  const pairs = new Map<number, number>();
  let open = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (open < 0 && (c === '"' || c === '“')) open = i;
    else if (open >= 0 && (c === '"' || c === '”')) {
      pairs.set(open, i);
      open = -1;
    }
  }
  return pairs;
}
