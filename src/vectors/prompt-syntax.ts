// Checks prompt-syntax/prompt_syntax.json (format in test/vectors/prompt-syntax/README.md)
// against src/prompt: each case's `attention` must equal parsePromptAttention exactly
// (texts, and weights as float64), and `schedules[steps]` must equal promptSchedules for
// every step count given. Where A1111 raised (`reference_raises`), ours must not crash:
// a result, or a PromptSyntaxError for the user, passes.
import { at } from '../checked.js';
import { parsePromptAttention, PromptSyntaxError, promptSchedules } from '../prompt/index.js';
import type { VectorCheckResult } from './index.js';

type Expected<T> = T | { reference_raises: string };

interface PromptSyntaxCase {
  prompt: string;
  attention: Expected<[string, number][]>;
  schedules: Record<string, Expected<[number, string][]>>;
}

/** True when `json` is the prompt-syntax vector format. */
export function isPromptSyntaxVectorFile(json: Record<string, unknown>): boolean {
  const first: unknown = Array.isArray(json.cases) ? json.cases[0] : undefined;
  return typeof first === 'object' && first !== null && 'prompt' in first && 'attention' in first && 'schedules' in first;
}

export function checkPromptSyntaxVectorFile(json: Record<string, unknown>): VectorCheckResult {
  const cases = json.cases as PromptSyntaxCase[];
  const failures: string[] = [];
  let maxAbsError = 0;
  let raisingChecks = 0;
  const stepCounts = new Set<string>();

  /** Compares [a, b] pairs: `numeric` is the index of the number, the other must be identical text. */
  const comparePairs = (label: string, got: [unknown, unknown][], want: [unknown, unknown][], numeric: 0 | 1) => {
    if (got.length !== want.length) {
      failures.push(`${label}: ${got.length} entries, expected ${want.length}: ${JSON.stringify(got).slice(0, 120)}`);
      maxAbsError = Infinity;
      return;
    }
    got.forEach((pair, k) => {
      const text = 1 - numeric;
      const expected = at(want, k);
      const error = Math.abs((pair[numeric] as number) - (expected[numeric] as number));
      maxAbsError = Math.max(maxAbsError, Number.isNaN(error) ? Infinity : error);
      if (pair[text] !== expected[text]) {
        failures.push(`${label}[${k}]: text ${JSON.stringify(pair[text])}, expected ${JSON.stringify(expected[text])}`);
        maxAbsError = Infinity;
      } else if (!(error === 0)) {
        failures.push(`${label}[${k}]: ${String(pair[numeric])}, expected ${String(expected[numeric])}`);
      }
    });
  };

  /** Runs one of our functions against one expected field. */
  const check = <T extends [unknown, unknown][]>(label: string, want: Expected<T>, run: () => T, numeric: 0 | 1) => {
    const raises = typeof want === 'object' && !Array.isArray(want);
    let got: T;
    try {
      got = run();
    } catch (error) {
      if (raises && error instanceof PromptSyntaxError) {
        raisingChecks++;
        return;
      }
      failures.push(`${label}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
      maxAbsError = Infinity;
      return;
    }
    if (raises) raisingChecks++;
    else comparePairs(label, got, want, numeric);
  };

  cases.forEach((c, i) => {
    const label = `case ${i} ${JSON.stringify(c.prompt).slice(0, 50)}`;
    check(`${label} attention`, c.attention, () => parsePromptAttention(c.prompt), 1);
    for (const [steps, want] of Object.entries(c.schedules)) {
      stepCounts.add(steps);
      check(`${label} schedules[${steps}]`, want, () => promptSchedules(c.prompt, Number(steps)), 0);
    }
  });
  const passed = failures.length === 0;
  const summary =
    `${cases.length} prompts: attention exact, schedules for ${[...stepCounts].join(', ')} steps identical; ` +
    `${raisingChecks} checks where A1111 raises ran without crashing`;
  return {
    maxAbsError,
    passed,
    detail: passed ? summary : `${failures.length} differ: ${failures.slice(0, 5).join('; ')}`,
  };
}
