// The demo model's quality, measured by the automatic checker over every combination
// of the prompt grammar, with the pipeline's defaults (default sampler, 20 steps,
// classifier-free guidance): background >= 95%, shape colour >= 90%, shape >= 80%, and
// held-out combinations (never seen in training) at most 10 points lower.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../../src/checked.js';
import { PipelineHost } from '../../src/pipeline/index.js';
import { DEMO_MODEL_DIR } from '../support/demo-model.js';
import { allCombinations, classify } from '../support/shape-checker.js';

const MODEL_DIR = DEMO_MODEL_DIR;
const GUIDANCE = 5;

type Combo = { colour: string; shape: string; background: string };

function heldOut(): Set<string> {
  const file = `${MODEL_DIR}/holdout.json`;
  if (!existsSync(file)) throw new Error(`${file} is missing`);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  const list = (
    Array.isArray(raw) ? raw : ((raw as { combos?: unknown[]; holdout?: unknown[] }).combos ?? (raw as { holdout?: unknown[] }).holdout)
  ) as unknown[];
  return new Set(
    list.map((c) => (Array.isArray(c) ? c.join('/') : `${(c as Combo).colour}/${(c as Combo).shape}/${(c as Combo).background}`)),
  );
}

let host: PipelineHost;
beforeAll(async () => {
  host = await PipelineHost.start({ modelDir: MODEL_DIR, provider: 'cpu' });
});
afterAll(async () => {
  await host?.close();
});

describe('demo model quality (automatic checker)', () => {
  it('draws the prompted background, shape colour and shape', { timeout: 600_000 }, async () => {
    const holdout = heldOut();
    const combos = allCombinations();
    const score = { seen: { n: 0, bg: 0, colour: 0, shape: 0 }, held: { n: 0, bg: 0, colour: 0, shape: 0 } };
    const misses: string[] = [];
    for (const [i, combo] of combos.entries()) {
      const prompt = `a ${combo.colour} ${combo.shape} on a ${combo.background} background`;
      const out = await host.generate({
        prompt,
        negativePrompt: '',
        seed: 1000 + i,
        steps: 20,
        guidance: GUIDANCE,
        sampler: host.model.defaultSampler,
        width: 128,
        height: 128,
        count: 1,
        rng: 'numpy',
      });
      const c = classify(at(out.images, 0).rgb, 128, 128);
      const bucket = holdout.has(`${combo.colour}/${combo.shape}/${combo.background}`) ? score.held : score.seen;
      bucket.n++;
      bucket.bg += Number(c.background === combo.background);
      bucket.colour += Number(c.shapeColour === combo.colour);
      bucket.shape += Number(c.shape === combo.shape);
      if (c.background !== combo.background || c.shapeColour !== combo.colour || c.shape !== combo.shape) {
        misses.push(`${prompt} -> ${c.shapeColour} ${c.shape} (fill ${c.fill.toFixed(2)}) on ${c.background}`);
      }
    }
    const pct = (b: typeof score.seen, k: 'bg' | 'colour' | 'shape') => (100 * b[k]) / b.n;
    const all = {
      n: score.seen.n + score.held.n,
      bg: score.seen.bg + score.held.bg,
      colour: score.seen.colour + score.held.colour,
      shape: score.seen.shape + score.held.shape,
    };
    const report = (['bg', 'colour', 'shape'] as const)
      .map((k) => `${k} ${pct(all, k).toFixed(1)}% (held-out ${pct(score.held, k).toFixed(1)}%)`)
      .join(', ');
    console.log(`demo model over ${all.n} prompts: ${report}; misses:\n  ${misses.join('\n  ')}`);
    expect(score.held.n).toBeGreaterThanOrEqual(Math.ceil(all.n / 10));
    expect(pct(all, 'bg')).toBeGreaterThanOrEqual(95);
    expect(pct(all, 'colour')).toBeGreaterThanOrEqual(90);
    expect(pct(all, 'shape')).toBeGreaterThanOrEqual(80);
    expect(pct(score.held, 'bg')).toBeGreaterThanOrEqual(pct(score.seen, 'bg') - 10);
    expect(pct(score.held, 'colour')).toBeGreaterThanOrEqual(pct(score.seen, 'colour') - 10);
    expect(pct(score.held, 'shape')).toBeGreaterThanOrEqual(pct(score.seen, 'shape') - 10);
  });
});
