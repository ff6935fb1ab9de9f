// Aspect ratios -> image sizes around a model's native resolution, in multiples of the
// size the model requires. The `aspect` option offers a few; `--ar W:H` takes any ratio.
import type { ModelInfo } from '../contract/index.js';

export const ASPECTS = ['1:1', '4:3', '3:4', '16:9', '9:16'] as const;
export type Aspect = (typeof ASPECTS)[number];

/** Areas allowed around the native area: wide enough that every aspect has a distinct shape. */
const MIN_AREA_FACTOR = 0.6;
const MAX_AREA_FACTOR = 1.6;
/** The widest ratio accepted (Midjourney's is about this). */
const MAX_RATIO = 8;

/** `W:H` with positive numbers (`16:9`, `2.39:1`) as width / height, or null. */
export function parseRatio(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  if (match === null) return null;
  const ratio = Number(match[1]) / Number(match[2]);
  return Number.isFinite(ratio) && ratio > 0 && ratio <= MAX_RATIO && 1 / ratio <= MAX_RATIO ? ratio : null;
}

/**
 * The width x height (multiples of `sizeMultiple`) whose ratio is closest to `ratio`
 * (width / height), among sizes with an area of 0.6-1.6x the native one and at most
 * `maxPixels`; ties go to the area closest to native. A model with a fixed size makes only that.
 */
export function sizeForRatio(
  ratio: number,
  model: Pick<ModelInfo, 'nativeWidth' | 'nativeHeight' | 'sizeMultiple' | 'fixedSize'>,
  maxPixels: number,
): { width: number; height: number } {
  if (model.fixedSize !== null) return { ...model.fixedSize };
  const m = model.sizeMultiple;
  const native = model.nativeWidth * model.nativeHeight;
  if (Math.abs(Math.log(ratio * (model.nativeHeight / model.nativeWidth))) < 1e-9)
    return { width: model.nativeWidth, height: model.nativeHeight };
  const target = Math.log(ratio);
  let best = { width: model.nativeWidth, height: model.nativeHeight, ratioError: Infinity, areaError: Infinity };
  const maxSide = Math.ceil(Math.sqrt(native * MAX_AREA_FACTOR * MAX_RATIO) / m) * m;
  for (let width = m; width <= maxSide; width += m) {
    for (let height = m; height <= maxSide; height += m) {
      const area = width * height;
      if (area < native * MIN_AREA_FACTOR || area > native * MAX_AREA_FACTOR || area > maxPixels) continue;
      const ratioError = Math.abs(Math.log(width / height) - target);
      const areaError = Math.abs(Math.log(area / native));
      if (ratioError < best.ratioError - 1e-9 || (Math.abs(ratioError - best.ratioError) <= 1e-9 && areaError < best.areaError)) {
        best = { width, height, ratioError, areaError };
      }
    }
  }
  return { width: best.width, height: best.height };
}

/** sizeForRatio of one of the `aspect` option's choices. */
export function sizeForAspect(
  aspect: Aspect,
  model: Pick<ModelInfo, 'nativeWidth' | 'nativeHeight' | 'sizeMultiple' | 'fixedSize'>,
  maxPixels: number,
): { width: number; height: number } {
  const ratio = parseRatio(aspect);
  if (ratio === null) throw new RangeError(`internal error: the aspect choice ${aspect} does not parse`);
  return sizeForRatio(ratio, model, maxPixels);
}

/** Whether `text` is one of the `aspect` option's choices. */
export function isAspect(text: string): text is Aspect {
  return (ASPECTS as readonly string[]).includes(text);
}
