// Checks tokenizer/clip_tokenizer_vectors.json (format in test/vectors/README.md):
// every prompt's `input_ids` and `num_tokens` must be identical, and `truncatedWords`
// must be non-empty exactly for the prompts marked `truncated`.
import { ClipTokenizer } from '../pipeline/tokenizer/index.js';
import type { VectorCheckResult } from './index.js';

interface TokenizerCase {
  i: number;
  prompt: string;
  input_ids: number[];
  num_tokens: number;
  truncated: boolean;
}

/** The BPE files the cases were produced with (`vocab.json` parsed, `merges.txt` as text). */
export interface ClipBpeFiles {
  vocab: Record<string, number>;
  merges: string;
}

/** True when `json` is the tokenizer vector format. */
export function isTokenizerVectorFile(json: Record<string, unknown>): boolean {
  return typeof json.eos_id === 'number' && typeof json.max_length === 'number' && Array.isArray(json.cases);
}

export function checkTokenizerVectorFile(json: Record<string, unknown>, files: ClipBpeFiles): VectorCheckResult {
  const tokenizer = ClipTokenizer.fromData(files.vocab, files.merges, {
    padTokenId: json.pad_id as number,
    maxLength: json.max_length as number,
  });
  const cases = json.cases as TokenizerCase[];
  const mismatches: string[] = [];
  let maxAbsError = 0;
  for (const c of cases) {
    const encoded = tokenizer.encode(c.prompt);
    let differing = 0;
    for (const [k, want] of c.input_ids.entries()) {
      const got = encoded.inputIds[k];
      const error = got === undefined ? Infinity : Math.abs(got - want);
      if (!(error === 0)) differing++;
      maxAbsError = Math.max(maxAbsError, Number.isNaN(error) ? Infinity : error);
    }
    if (encoded.inputIds.length !== c.input_ids.length) differing++;
    if (differing > 0) mismatches.push(`case ${c.i} ${JSON.stringify(c.prompt).slice(0, 60)}: ${differing} ids differ`);
    else if (encoded.numTokens !== c.num_tokens) mismatches.push(`case ${c.i}: num_tokens ${encoded.numTokens}, expected ${c.num_tokens}`);
    else if (encoded.truncatedWords.length > 0 !== c.truncated) {
      mismatches.push(`case ${c.i}: truncatedWords ${JSON.stringify(encoded.truncatedWords)} but truncated is ${c.truncated}`);
    }
  }
  const passed = mismatches.length === 0;
  return {
    maxAbsError,
    passed,
    detail: passed
      ? `${cases.length} prompts identical`
      : `${mismatches.length} of ${cases.length} prompts differ: ${mismatches.slice(0, 5).join('; ')}`,
  };
}
