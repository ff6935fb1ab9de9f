// Aspect ratios -> image sizes around a model's native resolution, in multiples of the
// size the model requires (64 for SD exports).
import type { ModelInfo } from '../contract/index.js';

export const ASPECTS = ['1:1', '4:3', '3:4', '16:9', '9:16'] as const;
export type Aspect = (typeof ASPECTS)[number];

/** Areas allowed around the native area: wide enough that every aspect has a distinct shape. */
const MIN_AREA_FACTOR = 0.6;
const MAX_AREA_FACTOR = 1.6;

/**
 * The width x height (multiples of `sizeMultiple`) whose ratio is closest to the aspect,
 * among sizes with an area of 0.6-1.6x the native one and at most `maxPixels`; ties go to
 * the area closest to native.
 */
export function sizeForAspect(aspect: Aspect, model: Pick<ModelInfo, 'nativeWidth' | 'nativeHeight' | 'sizeMultiple'>, maxPixels: number): { width: number; height: number } {
  const [a, b] = aspect.split(':').map(Number);
  const m = model.sizeMultiple;
  const native = model.nativeWidth * model.nativeHeight;
  if (aspect === '1:1') return { width: model.nativeWidth, height: model.nativeHeight };
  const target = Math.log(a / b);
  let best = { width: model.nativeWidth, height: model.nativeHeight, ratioError: Infinity, areaError: Infinity };
  const maxSide = Math.ceil(Math.sqrt(native * MAX_AREA_FACTOR * 16) / m) * m;
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
