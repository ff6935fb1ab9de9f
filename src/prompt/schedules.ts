// AUTOMATIC1111's prompt editing and alternation, as its
// `get_learned_conditioning_prompt_schedules([prompt], steps)[0]` computes them:
//   [from:to:when]  `from` up to step `when`, then `to`     [to:when]  nothing, then `to`
//   [from::when]    `from`, then nothing                    when < 1   a fraction of the steps
//   [a|b|c]         a at step 1, b at step 2, c at step 3, a at step 4 ...
// A1111 parses with a lark Earley grammar. Inside a bracket construct its parse is
// unique; at the top level a bracket that closes nothing is text. This parser keeps every
// construct that is valid by that grammar, scanning left to right, which gives A1111's
// results wherever A1111's own result does not depend on Python's hash seed (for inputs
// such as `[a:1])` A1111 changes its answer from one process to the next).
// Where A1111 raises, we do not: an empty alternative `[a|]` is empty text. A step
// number too large to be a number (`[a:b:1e999]`) is a PromptSyntaxError.
// A prompt the grammar cannot parse at all (a `|` outside brackets, a backslash at the
// end) is one entry: the prompt unchanged for every step, as in A1111.
import { at } from '../checked.js';
import { PromptSyntaxError } from './errors.js';
import { PY_SPACE } from './python-text.js';

/** Up to and including step `endAtStep`, condition on `text`. */
export type PromptScheduleEntry = [endAtStep: number, text: string];

interface Text {
  kind: 'text';
  text: string;
}
/** `(p)`, `(p:q)` or `[p]`: kept as written (emphasis is read later, per scheduled text). */
interface Emphasized {
  kind: 'emphasized';
  open: '(' | '[';
  parts: Item[][];
}
interface Scheduled {
  kind: 'scheduled';
  /** Null in `[to:when]`. */
  before: Item[] | null;
  after: Item[];
  /** The step number as written, read per step count. */
  when: string;
}
interface Alternate {
  kind: 'alternate';
  options: Item[][];
}
type Item = Text | Emphasized | Scheduled | Alternate;

// lark's SIGNED_NUMBER, alternatives in the order lark compiles them.
const NUMBER = /[+-]?(?:\d+[eE][+-]?\d+|(?:\d+\.(?:\d+)?|\.\d+)(?:[eE][+-]?\d+)?|\d+)/y;
const SPACES = new RegExp(`${PY_SPACE}*`, 'uy');
const STOPS = new Set([')', ']', ':', '|']);

/** The prompt to condition on at each step: `[endAtStep, text]` pairs, steps ascending, the last one `steps`. */
export function promptSchedules(prompt: string, steps: number): PromptScheduleEntry[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const items = new ScheduleParser(prompt).parse();
  if (items === null) return [[steps, prompt]];
  const stepSet = new Set<number>([steps]);
  collectSteps(items, steps, stepSet);
  return [...stepSet].sort((a, b) => a - b).map((step) => [step, render(items, step, steps)]);
}

/** A1111's step of `[a:b:when]`: a fraction of the steps below 1, truncated, at most `steps`. */
function endStep(item: Scheduled, steps: number): number {
  let when = Number(item.when);
  if (!Number.isFinite(when)) throw new PromptSyntaxError(`the step number ${item.when} in a [from:to:when] edit is too large`);
  if (when < 1) when *= steps;
  return Math.min(steps, Math.trunc(when) + 0);
}

/** Every scheduled step and, with an alternation anywhere, every step (A1111 counts the branches it never shows too). */
function collectSteps(items: Item[], steps: number, out: Set<number>): void {
  for (const item of items) {
    if (item.kind === 'emphasized') {
      for (const part of item.parts) collectSteps(part, steps, out);
    } else if (item.kind === 'scheduled') {
      out.add(endStep(item, steps));
      if (item.before) collectSteps(item.before, steps, out);
      collectSteps(item.after, steps, out);
    } else if (item.kind === 'alternate') {
      for (let s = 1; s <= steps; s++) out.add(s);
      for (const option of item.options) collectSteps(option, steps, out);
    }
  }
}

function render(items: Item[], step: number, steps: number): string {
  let text = '';
  for (const item of items) {
    if (item.kind === 'text') {
      text += item.text;
    } else if (item.kind === 'emphasized') {
      text += item.open + item.parts.map((part) => render(part, step, steps)).join(':') + (item.open === '(' ? ')' : ']');
    } else if (item.kind === 'scheduled') {
      const chosen = step <= endStep(item, steps) ? item.before : item.after;
      if (chosen) text += render(chosen, step, steps);
    } else {
      // A1111 shows only the first item of the chosen alternative (its text up to the first bracket, or that bracket).
      const n = item.options.length;
      const option = at(item.options, (((step - 1) % n) + n) % n);
      if (option.length > 0) text += render(option.slice(0, 1), step, steps);
    }
  }
  return text;
}

class ScheduleParser {
  /** Constructs by the index of their opening bracket (null: not a valid construct). */
  private readonly constructs = new Map<number, { item: Item; end: number } | null>();

  constructor(private readonly text: string) {}

  /** The top level: valid constructs, and everything else as text. Null where the grammar has no parse. */
  parse(): Item[] | null {
    const items: Item[] = [];
    let text = '';
    for (let i = 0; i < this.text.length;) {
      const c = this.text.charAt(i);
      const construct = c === '(' || c === '[' ? this.construct(i) : null;
      if (construct) {
        if (text) items.push({ kind: 'text', text });
        text = '';
        items.push(construct.item);
        i = construct.end;
      } else if (c === '|') {
        return null;
      } else if (c === '\\') {
        if (!this.escapes(i)) return null;
        text += this.text.slice(i, i + 2);
        i += 2;
      } else {
        text += c;
        i++;
      }
    }
    if (text) items.push({ kind: 'text', text });
    return items;
  }

  /** Whether the backslash at `i` escapes a character (lark's `\\.`: anything but a newline). */
  private escapes(i: number): boolean {
    return i + 1 < this.text.length && this.text[i + 1] !== '\n';
  }

  /** The items of a prompt from `start` to the first `)`, `]`, `:` or `|` at its level; null if it holds an invalid construct. */
  private prompt(start: number): { items: Item[]; end: number } | null {
    const items: Item[] = [];
    let i = start;
    let textStart = start;
    const flushText = () => {
      if (i > textStart) items.push({ kind: 'text', text: this.text.slice(textStart, i) });
    };
    while (i < this.text.length) {
      const c = this.text.charAt(i);
      if (STOPS.has(c)) break;
      if (c === '(' || c === '[') {
        const construct = this.construct(i);
        if (!construct) return null;
        flushText();
        items.push(construct.item);
        i = textStart = construct.end;
      } else if (c === '\\') {
        if (!this.escapes(i)) return null;
        i += 2;
      } else {
        i++;
      }
    }
    flushText();
    return { items, end: i };
  }

  private construct(start: number): { item: Item; end: number } | null {
    let result = this.constructs.get(start);
    if (result === undefined) {
      result = this.text[start] === '(' ? this.round(start) : this.square(start);
      this.constructs.set(start, result);
    }
    return result;
  }

  /** `(p)` or `(p:q)`. */
  private round(start: number): { item: Item; end: number } | null {
    const first = this.prompt(start + 1);
    if (!first) return null;
    if (this.text[first.end] === ')') return { item: { kind: 'emphasized', open: '(', parts: [first.items] }, end: first.end + 1 };
    if (this.text[first.end] !== ':') return null;
    const second = this.prompt(first.end + 1);
    if (!second || this.text[second.end] !== ')') return null;
    return { item: { kind: 'emphasized', open: '(', parts: [first.items, second.items] }, end: second.end + 1 };
  }

  /** `[p]`, `[a|b|...]`, `[to:when]` or `[from:to:when]`. */
  private square(start: number): { item: Item; end: number } | null {
    const first = this.prompt(start + 1);
    if (!first) return null;
    const stop = this.text[first.end];
    if (stop === ']') return { item: { kind: 'emphasized', open: '[', parts: [first.items] }, end: first.end + 1 };
    if (stop === '|') {
      const options = [first.items];
      let end = first.end;
      while (this.text[end] === '|') {
        const option = this.prompt(end + 1);
        if (!option) return null;
        options.push(option.items);
        end = option.end;
      }
      return this.text[end] === ']' ? { item: { kind: 'alternate', options }, end: end + 1 } : null;
    }
    if (stop !== ':') return null;
    const to = this.numberAndClose(first.end + 1);
    if (to) return { item: { kind: 'scheduled', before: null, after: first.items, when: to.number }, end: to.end };
    const second = this.prompt(first.end + 1);
    if (!second || this.text[second.end] !== ':') return null;
    const fromTo = this.numberAndClose(second.end + 1);
    if (!fromTo) return null;
    return { item: { kind: 'scheduled', before: first.items, after: second.items, when: fromTo.number }, end: fromTo.end };
  }

  /** Optional whitespace, a number and `]`, as in `: 0.5]`. */
  private numberAndClose(start: number): { number: string; end: number } | null {
    SPACES.lastIndex = start;
    SPACES.exec(this.text);
    NUMBER.lastIndex = SPACES.lastIndex;
    const match = NUMBER.exec(this.text);
    if (!match || this.text[NUMBER.lastIndex] !== ']') return null;
    return { number: match[0], end: NUMBER.lastIndex + 1 };
  }
}
