// Runs every reference-vector file of a directory (the layout of test/vectors) through
// the checker for its format: random generators, the CLIP tokenizer, schedulers /
// img2img (src/vectors/schedulers.ts) and A1111 prompt syntax (src/vectors/prompt-syntax.ts).
// `index.json` files, `tables/` folders and the tokenizer's own data files (vocab.json ...)
// are not cases and are skipped.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkPromptSyntaxVectorFile, isPromptSyntaxVectorFile } from './prompt-syntax.js';
import { checkRngVectorFile, isRngVectorFile } from './rng.js';
import { checkTokenizerVectorFile, isTokenizerVectorFile, type ClipBpeFiles } from './tokenizer.js';

export interface VectorCheckResult {
  /** Largest absolute difference between computed and stored numbers. */
  maxAbsError: number;
  passed: boolean;
  /** What differed (or a summary when passed). */
  detail?: string;
}

export interface VectorFileResult extends VectorCheckResult {
  /** Path relative to the checked directory, with `/` separators. */
  file: string;
}

export interface CheckVectorsOptions {
  /**
   * Folder with the `vocab.json` and `merges.txt` that tokenizer cases were made with.
   * Default: `<dir>/tokenizer` when it has both, else the demo model's tokenizer folder (the same real CLIP files).
   */
  tokenizerDir?: string;
}

const NOT_CASES = new Set(['index.json', 'vocab.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']);

/** The repository's copy of the reference vectors (test/vectors, copied from the project's shared material). */
export const REPO_VECTORS_DIR = fileURLToPath(new URL('../../test/vectors', import.meta.url));

/** The real CLIP BPE files (vocab.json, merges.txt) committed with the demo model. */
export const CLIP_BPE_DIR = fileURLToPath(new URL('../../models/shapes-demo/tokenizer', import.meta.url));

/** JSON.parse that keeps `"seed"` integers beyond 2^53 (torch's 64-bit seeds) exact, as strings. */
export function parseVectorJson(text: string): unknown {
  return JSON.parse(text.replace(/("seed"\s*:\s*)(-?\d{16,})/g, '$1"$2"'));
}

/** The vector files under `dir` (recursively), relative to it, sorted. */
export async function listVectorFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.json') || NOT_CASES.has(entry.name)) continue;
    const file = relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/');
    if (file.split('/').slice(0, -1).includes('tables')) continue;
    files.push(file);
  }
  return files.sort();
}

/** Checks every vector file of `dir`; a file that cannot be read or recognised is a failure, not an exception. */
export async function checkVectorDirectory(dir: string, options: CheckVectorsOptions = {}): Promise<VectorFileResult[]> {
  const tokenizerDir = options.tokenizerDir ?? (hasBpeFiles(join(dir, 'tokenizer')) ? join(dir, 'tokenizer') : CLIP_BPE_DIR);
  let bpeFiles: ClipBpeFiles | undefined;
  const results: VectorFileResult[] = [];
  for (const file of await listVectorFiles(dir)) {
    let result: VectorCheckResult;
    try {
      const json = parseVectorJson(await readFile(join(dir, file), 'utf8'));
      if (typeof json !== 'object' || json === null || Array.isArray(json)) {
        result = failure('not a JSON object');
      } else if (isTokenizerVectorFile(json as Record<string, unknown>)) {
        bpeFiles ??= await readBpeFiles(tokenizerDir);
        result = checkTokenizerVectorFile(json as Record<string, unknown>, bpeFiles);
      } else {
        result = await checkVectorJson(json as Record<string, unknown>);
      }
    } catch (err) {
      result = failure(err instanceof Error ? err.message : String(err));
    }
    results.push({ file, ...result });
  }
  return results;
}

/** Checks one parsed rng, prompt-syntax or scheduler/img2img vector file (tokenizer files need BPE files: use checkTokenizerVectorFile). */
export async function checkVectorJson(json: Record<string, unknown>): Promise<VectorCheckResult> {
  if (isRngVectorFile(json)) return checkRngVectorFile(json);
  if (isPromptSyntaxVectorFile(json)) return checkPromptSyntaxVectorFile(json);
  if (typeof json.scheduler_class === 'string') {
    // Loaded on first use, so rng and tokenizer checks do not load the scheduler code.
    const { checkSchedulerVectorFile } = await import('./schedulers.js');
    return checkSchedulerVectorFile(json);
  }
  return failure('unknown vector format (expected an rng, tokenizer, scheduler, img2img or prompt-syntax file)');
}

function failure(detail: string): VectorCheckResult {
  return { maxAbsError: Infinity, passed: false, detail };
}

function hasBpeFiles(dir: string): boolean {
  return existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'));
}

async function readBpeFiles(dir: string): Promise<ClipBpeFiles> {
  if (!hasBpeFiles(dir)) throw new Error(`no vocab.json and merges.txt in ${dir} for the tokenizer cases`);
  const [vocab, merges] = await Promise.all([readFile(join(dir, 'vocab.json'), 'utf8'), readFile(join(dir, 'merges.txt'), 'utf8')]);
  return { vocab: JSON.parse(vocab) as Record<string, number>, merges };
}
