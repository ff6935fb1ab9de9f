// The demo model at sizes other than its native 128x128 (its export has dynamic height and
// width): landscape and portrait images through the real pipeline, scored by the automatic
// checker with the pipeline's defaults (default sampler, 20 steps, guidance 5) against the
// same thresholds as at 128x128: background >= 95%, shape colour >= 90%, shape >= 80%.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../../src/checked.js';
import { PipelineHost } from '../../src/pipeline/index.js';
import { DEMO_MODEL_DIR } from '../support/demo-model.js';
import { allCombinations, classify } from '../support/shape-checker.js';

/** Every 7th combination: 24 of the 168, each colour, shape and background among them. */
const COMBOS = allCombinations().filter((_, i) => i % 7 === 0);

let host: PipelineHost;
beforeAll(async () => {
  host = await PipelineHost.start({ modelDir: DEMO_MODEL_DIR, provider: 'cpu' });
});
afterAll(async () => {
  await host?.close();
});

describe('demo model at other sizes (automatic checker)', () => {
  it('has dynamic spatial axes and the size multiple of its VAE and UNet', () => {
    expect(host.model).toMatchObject({ fixedSize: null, sizeMultiple: 32, nativeWidth: 128, nativeHeight: 128 });
  });

  it.each([
    [192, 128],
    [128, 192],
  ])('draws the prompted background, shape colour and shape at %dx%d', { timeout: 300_000 }, async (width, height) => {
    const score = { bg: 0, colour: 0, shape: 0 };
    const misses: string[] = [];
    for (const [i, combo] of COMBOS.entries()) {
      const prompt = `a ${combo.colour} ${combo.shape} on a ${combo.background} background`;
      const out = await host.generate({
        prompt,
        negativePrompt: '',
        seed: 2000 + i,
        steps: 20,
        guidance: 5,
        sampler: host.model.defaultSampler,
        width,
        height,
        count: 1,
        rng: 'numpy',
      });
      const image = at(out.images, 0);
      expect([image.width, image.height]).toEqual([width, height]);
      const c = classify(image.rgb, width, height);
      score.bg += Number(c.background === combo.background);
      score.colour += Number(c.shapeColour === combo.colour);
      score.shape += Number(c.shape === combo.shape);
      if (c.background !== combo.background || c.shapeColour !== combo.colour || c.shape !== combo.shape) {
        misses.push(`${prompt} -> ${c.shapeColour} ${c.shape} (fill ${c.fill.toFixed(2)}) on ${c.background}`);
      }
    }
    const pct = (k: keyof typeof score) => (100 * score[k]) / COMBOS.length;
    console.log(
      `demo model at ${width}x${height} over ${COMBOS.length} prompts: bg ${pct('bg').toFixed(1)}%, colour ${pct('colour').toFixed(1)}%, shape ${pct('shape').toFixed(1)}%; misses:\n  ${misses.join('\n  ')}`,
    );
    expect(pct('bg')).toBeGreaterThanOrEqual(95);
    expect(pct('colour')).toBeGreaterThanOrEqual(90);
    expect(pct('shape')).toBeGreaterThanOrEqual(80);
  });
});
