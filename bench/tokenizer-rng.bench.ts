// Text and noise preparation costs: loading the CLIP tokenizer (49k vocabulary + 48k
// merges; target well under 300 ms), encoding prompts with a cold and a warm BPE cache,
// and drawing the initial latent noise with each generator.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NumpyRandomState, TorchCpuGenerator } from '../src/pipeline/rng/index.js';
import { ClipTokenizer } from '../src/pipeline/tokenizer/index.js';
import { CLIP_BPE_DIR, REPO_VECTORS_DIR } from '../src/vectors/index.js';
import { median } from './stats.js';

const RUNS = 5;

/** `fn`'s wall time in ms, awaited when it returns a promise. */
async function time(fn: () => unknown): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function medianMs(fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await time(fn));
  return median(times);
}

export async function run(): Promise<{ name: string; lines: string[]; metrics: Record<string, number> }> {
  const vectors = JSON.parse(readFileSync(join(REPO_VECTORS_DIR, 'tokenizer', 'clip_tokenizer_vectors.json'), 'utf8')) as {
    cases: { prompt: string }[];
  };
  const prompts = vectors.cases.map((c) => c.prompt);
  const loadMs = await medianMs(() => ClipTokenizer.fromFiles(CLIP_BPE_DIR));
  const tokenizer = await ClipTokenizer.fromFiles(CLIP_BPE_DIR);
  const coldMs = await time(() => prompts.forEach((p) => tokenizer.encode(p)));
  const warmMs = await medianMs(() => prompts.forEach((p) => tokenizer.encode(p)));

  const coldMsPerPrompt = coldMs / prompts.length;
  const warmMsPerPrompt = warmMs / prompts.length;
  const metrics: Record<string, number> = {
    tokenizer_load_ms: loadMs,
    encode_cold_ms_per_prompt: coldMsPerPrompt,
    encode_warm_ms_per_prompt: warmMsPerPrompt,
  };
  const noiseRows: string[] = [];
  for (const [label, n] of [
    ['1x4x64x64', 4 * 64 * 64],
    ['1x4x128x128', 4 * 128 * 128],
  ] as const) {
    const torchMs = await medianMs(() => new TorchCpuGenerator(1).randn(n));
    const numpyMs = await medianMs(() => new NumpyRandomState(1).randn(n));
    metrics[`torch_randn_${label}_ms`] = torchMs;
    metrics[`numpy_randn_${label}_ms`] = numpyMs;
    noiseRows.push(`| ${label} | ${torchMs.toFixed(1)} | ${numpyMs.toFixed(1)} |`);
  }
  return {
    name: 'Tokenizer and noise',
    lines: [
      `CLIP tokenizer load (median of ${RUNS}): ${loadMs.toFixed(0)} ms (target < 300 ms).`,
      `Encoding the ${prompts.length} vector prompts: ${coldMsPerPrompt.toFixed(3)} ms per prompt with an empty BPE cache, ${warmMsPerPrompt.toFixed(3)} ms warm.`,
      '',
      '| latent noise | torch randn (ms) | numpy randn (ms) |',
      '| --- | ---: | ---: |',
      ...noiseRows,
    ],
    metrics,
  };
}
