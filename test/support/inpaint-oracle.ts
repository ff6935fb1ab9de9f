// The demo model's inpainting quality, measured by the shape checker: draw a shape, repaint
// the cells of the 3x3 grid that cover it with a prompt naming another shape colour, and
// check that the shape now has that colour, while the pixels outside the feathered mask stay
// as they were. Shared by the test (a sample) and the bench (every combination).
import { at, f32At, u8At } from '../../src/checked.js';
import { REGION_CELLS, type GenerationRequest, type RegionCell } from '../../src/contract/index.js';
import { encodePng } from '../../src/images/png.js';
import { featheredMask, regionMask } from '../../src/pipeline/edits.js';
import type { PipelineHost } from '../../src/pipeline/index.js';
import { allCombinations, classify, COLOURS, type Colour, type Shape } from './shape-checker.js';

export const ORACLE_SIDE = 128;

export interface RepaintCase {
  colour: Colour;
  shape: Shape;
  background: Colour;
  /** The colour the repaint prompt names: neither the shape's nor the background's. */
  newColour: Colour;
  seed: number;
}

/** Every `every`-th combination of the prompt grammar, each with the next colour that is neither of its two. */
export function repaintCases(every = 1): RepaintCase[] {
  return allCombinations()
    .filter((_, i) => i % every === 0)
    .map((c, i) => {
      let k = (COLOURS.indexOf(c.colour) + 1 + (i % 3)) % COLOURS.length;
      while (COLOURS[k] === c.colour || COLOURS[k] === c.background) k = (k + 1) % COLOURS.length;
      return { ...c, newColour: at(COLOURS, k), seed: 5000 + i };
    });
}

/** The cells of the 3x3 grid that a box touches. */
export function cellsCovering(box: { x0: number; y0: number; x1: number; y1: number }, side: number): RegionCell[] {
  const third = (v: number) => Math.min(2, Math.floor((3 * v) / side));
  const cells: RegionCell[] = [];
  for (let row = third(box.y0); row <= third(box.y1 - 1); row++)
    for (let col = third(box.x0); col <= third(box.x1 - 1); col++) cells.push(at(REGION_CELLS, row * 3 + col));
  return cells;
}

export interface RepaintScore {
  /** Repaints measured (`variants` per source whose shape the checker found). */
  n: number;
  /** Repaints whose shape has the new colour. */
  recoloured: number;
  /** Sources skipped because the checker found no shape of the prompted colour. */
  skippedSources: number;
  /** Mean |result - source| over the pixels outside the feathered mask, in 8-bit levels. */
  outsideMeanDiff: number;
  /** The same over the feather band (0 < mask < 1), where the repaint blends into the original. */
  bandMeanDiff: number;
  misses: string[];
}

/** Runs the cases on the demo model: a source per case, then `variants` repaints of it (one batch, seeds seed + 1000 + i). */
export async function measureRegionRepaint(
  host: PipelineHost,
  cases: RepaintCase[],
  options: { steps: number; guidance: number; variants: number },
): Promise<RepaintScore> {
  const side = ORACLE_SIDE;
  const score: RepaintScore = { n: 0, recoloured: 0, skippedSources: 0, outsideMeanDiff: 0, bandMeanDiff: 0, misses: [] };
  const outside = { sum: 0, n: 0 };
  const band = { sum: 0, n: 0 };
  for (const c of cases) {
    const request: GenerationRequest = {
      prompt: `a ${c.colour} ${c.shape} on a ${c.background} background`,
      negativePrompt: '',
      seed: c.seed,
      steps: options.steps,
      guidance: options.guidance,
      sampler: host.model.defaultSampler,
      width: side,
      height: side,
      count: 1,
      rng: 'numpy',
    };
    const source = at((await host.generate(request)).images, 0);
    const found = classify(source.rgb, side, side);
    if (found.shapeColour !== c.colour || found.box === null) {
      score.skippedSources++;
      continue;
    }
    const cells = cellsCovering(found.box, side);
    const prompt = `a ${c.newColour} ${c.shape} on a ${c.background} background`;
    const edited = await host.generate({
      ...request,
      prompt,
      seed: c.seed + 1000,
      count: options.variants,
      init: { image: encodePng(source), strength: 1 },
      edit: { kind: 'region', cells },
    });
    const soft = featheredMask(regionMask(cells, side, side), side, side).soft;
    for (const image of edited.images) {
      score.n++;
      const result = classify(image.rgb, side, side);
      if (result.shapeColour === c.newColour) score.recoloured++;
      else
        score.misses.push(
          `${prompt} over ${c.colour} (cells ${cells.join(' ')}, seed ${image.seed}) -> ${result.shapeColour ?? 'no'} ${result.shape ?? 'shape'}`,
        );
      for (let p = 0; p < side * side; p++) {
        const m = f32At(soft, p);
        if (m === 1) continue;
        let diff = 0;
        for (let k = 0; k < 3; k++) diff += Math.abs(u8At(image.rgb, p * 3 + k) - u8At(source.rgb, p * 3 + k));
        const bucket = m === 0 ? outside : band;
        bucket.sum += diff / 3;
        bucket.n++;
      }
    }
  }
  score.outsideMeanDiff = outside.n > 0 ? outside.sum / outside.n : 0;
  score.bandMeanDiff = band.n > 0 ? band.sum / band.n : 0;
  return score;
}
