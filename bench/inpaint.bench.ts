// The demo model's inpainting quality over every combination of its prompt grammar, by the
// shape checker of the tests: each source image's shape is covered by the cells of the 3x3
// grid it touches, repainted 4 times (a Vary (region) batch) with a prompt naming another
// shape colour, at the pipeline's defaults (default sampler, 20 steps, guidance 5).
// Targets: recoloured >= 85%, pixels outside the feathered mask within 2/255 on average.
import { PipelineHost } from '../src/pipeline/index.js';
import { measureRegionRepaint, ORACLE_SIDE, repaintCases } from '../test/support/inpaint-oracle.js';

const MODEL_DIR = `${process.env.TEST_MODELS_DIR ?? 'models'}/shapes-demo`;

export async function run(): Promise<{ name: string; lines: string[]; metrics: Record<string, number> }> {
  const host = await PipelineHost.start({ modelDir: MODEL_DIR, provider: 'cpu' });
  try {
    const cases = repaintCases();
    const started = performance.now();
    const score = await measureRegionRepaint(host, cases, { steps: 20, guidance: 5, variants: 4 });
    const seconds = (performance.now() - started) / 1000;
    const rate = (100 * score.recoloured) / score.n;
    return {
      name: 'Inpainting quality (demo model)',
      lines: [
        `${cases.length} prompts (every shape colour, shape and background), one source each, its shape's cells repainted 4 times with another colour; ${ORACLE_SIDE}x${ORACLE_SIDE}, ${host.model.defaultSampler}, 20 steps, guidance 5, CPU`,
        '',
        '| repaints | recoloured | outside the feathered mask | feather band | sources skipped | time |',
        '| --- | --- | --- | --- | --- | --- |',
        `| ${score.n} | ${rate.toFixed(1)}% (target >= 85%) | ${score.outsideMeanDiff.toFixed(3)}/255 mean (target <= 2) | ${score.bandMeanDiff.toFixed(2)}/255 mean | ${score.skippedSources} | ${seconds.toFixed(0)} s |`,
        '',
        `Misses (${score.misses.length}): ${score.misses.slice(0, 12).join('; ')}${score.misses.length > 12 ? '; ...' : ''}`,
      ],
      metrics: {
        repaints: score.n,
        recolouredPct: rate,
        outsideMeanDiff: score.outsideMeanDiff,
        bandMeanDiff: score.bandMeanDiff,
        skippedSources: score.skippedSources,
        seconds,
      },
    };
  } finally {
    await host.close();
  }
}
