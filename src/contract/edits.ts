// Edits of a stored image, as the editing buttons and `npm run imagine` name them: repaint
// cells of a 3x3 grid (Vary (region)), zoom out, pan, upscale. An edit belongs to the job's
// request (stored, rerun exactly); the pipeline turns it into a canvas, a mask and a
// denoising run (src/pipeline/edits.ts). The sizes an edit makes are decided here, so the bot
// stores them and the pipeline checks them.
import type { ModelInfo } from './model-info.js';

/** The nine cells of a 3x3 grid over an image, as the Vary (region) select offers them. */
export const REGION_CELLS = Object.freeze([
  'top-left',
  'top',
  'top-right',
  'left',
  'center',
  'right',
  'bottom-left',
  'bottom',
  'bottom-right',
] as const);
export type RegionCell = (typeof REGION_CELLS)[number];

/** How much Zoom out shrinks the image inside a canvas of the same size. */
export const ZOOM_FACTORS = Object.freeze([2, 1.5] as const);
export type ZoomFactor = (typeof ZOOM_FACTORS)[number];

/** The side Pan grows the canvas on, by half the image's width (left, right) or height (up, down). */
export const PAN_DIRECTIONS = Object.freeze(['left', 'right', 'up', 'down'] as const);
export type PanDirection = (typeof PAN_DIRECTIONS)[number];

/** subtle: a super-resolution model (or Lanczos) at 2x; creative: 2x, then image-to-image at that size. */
export const UPSCALE_MODES = Object.freeze(['subtle', 'creative'] as const);
export type UpscaleMode = (typeof UPSCALE_MODES)[number];

export type Edit =
  | { kind: 'region'; cells: RegionCell[] }
  | { kind: 'zoom'; factor: ZoomFactor }
  | { kind: 'pan'; direction: PanDirection }
  | { kind: 'upscale'; mode: UpscaleMode };

export const EDIT_KINDS = Object.freeze(['region', 'zoom', 'pan', 'upscale'] as const);

/** The denoising strength of each edit over its masked area (creative upscale: the whole image, lightly, as A1111's hires fix). */
export const EDIT_STRENGTH = Object.freeze({ region: 1, zoom: 1, pan: 1, upscale: { subtle: 1, creative: 0.35 } });

export function editStrength(edit: Edit): number {
  return edit.kind === 'upscale' ? EDIT_STRENGTH.upscale[edit.mode] : EDIT_STRENGTH[edit.kind];
}

/** Images an edit makes: a 2x2 grid for region, zoom and pan (new seeds), one image for an upscale (the source's seed). */
export function editCount(edit: Edit): number {
  return edit.kind === 'upscale' ? 1 : 4;
}

/** Whether the edit runs the diffusion model (a subtle upscale only runs the upscaler). */
export function editDenoises(edit: Edit): boolean {
  return !(edit.kind === 'upscale' && edit.mode === 'subtle');
}

/** A short description, for messages and the PNG parameters: "Zoom out 2x", "Pan left", ... */
export function editLabel(edit: Edit): string {
  switch (edit.kind) {
    case 'region':
      return `Vary (region): ${edit.cells.join(', ')}`;
    case 'zoom':
      return `Zoom out ${edit.factor}x`;
    case 'pan':
      return `Pan ${edit.direction}`;
    case 'upscale':
      return `Upscale (${edit.mode})`;
  }
}

export interface EditSize {
  width: number;
  height: number;
  /** The grown canvas did not fit `maxPixels` and was scaled down to fit (the message says so). */
  scaledDown: boolean;
}

/** Thrown by editSize when the model or the limits cannot make the edit; the message is for the user. */
export class EditSizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EditSizeError';
  }
}

const roundTo = (value: number, multiple: number) => Math.max(multiple, Math.round(value / multiple) * multiple);
const floorTo = (value: number, multiple: number) => Math.max(multiple, Math.floor(value / multiple) * multiple);

/**
 * The size an edit of a `source`-sized image makes with `model`: region and zoom keep the
 * size; pan grows one side by half; upscale doubles both. Sizes that go through the UNet are
 * multiples of the model's size multiple; a result over `maxPixels` is scaled down to fit.
 */
export function editSize(
  edit: Edit,
  source: { width: number; height: number },
  model: Pick<ModelInfo, 'name' | 'sizeMultiple' | 'fixedSize'>,
  maxPixels: number,
): EditSize {
  if (edit.kind === 'region' || edit.kind === 'zoom') return { width: source.width, height: source.height, scaledDown: false };
  let width =
    edit.kind === 'upscale'
      ? 2 * source.width
      : edit.direction === 'left' || edit.direction === 'right'
        ? 1.5 * source.width
        : source.width;
  let height =
    edit.kind === 'upscale'
      ? 2 * source.height
      : edit.direction === 'up' || edit.direction === 'down'
        ? 1.5 * source.height
        : source.height;
  const denoised = editDenoises(edit);
  if (denoised && model.fixedSize !== null) {
    throw new EditSizeError(
      `Model \`${model.name}\` only makes ${model.fixedSize.width}x${model.fixedSize.height} images, so it cannot ${editLabel(edit).toLowerCase()}.`,
    );
  }
  const m = denoised ? model.sizeMultiple : 1;
  let scaledDown = false;
  if (width * height > maxPixels) {
    const scale = Math.sqrt(maxPixels / (width * height));
    width = floorTo(width * scale, m);
    height = floorTo(height * scale, m);
    scaledDown = true;
  } else {
    width = roundTo(width, m);
    height = roundTo(height, m);
    if (width * height > maxPixels) {
      width = floorTo(width, m);
      height = floorTo(height, m);
    }
  }
  if (edit.kind === 'upscale' && width <= source.width && height <= source.height) {
    throw new EditSizeError(
      `This image is ${source.width}x${source.height} already: at most ${maxPixels} pixels are allowed, so it cannot be upscaled.`,
    );
  }
  return { width, height, scaledDown };
}

/**
 * What a result message says about how an edit was made from a `source`-sized image into
 * `result`: that a pan's grown canvas was scaled down to fit; null when there is nothing to say.
 */
export function editNote(edit: Edit, source: { width: number; height: number }, result: { width: number; height: number }): string | null {
  if (edit.kind !== 'pan') return null;
  const grown =
    edit.direction === 'left' || edit.direction === 'right' ? 1.5 * source.width * source.height : source.width * 1.5 * source.height;
  return result.width * result.height < 0.9 * grown
    ? `The grown canvas was more than the largest size allowed, so it was scaled down to ${result.width}x${result.height}.`
    : null;
}

/** The problem with an edit read from anywhere (a stored job, a custom_id), or null. */
export function editProblem(edit: unknown): string | null {
  if (edit === null || typeof edit !== 'object') return 'The edit is not one of region, zoom, pan or upscale.';
  const e = edit as Record<string, unknown>;
  switch (e.kind) {
    case 'region':
      return Array.isArray(e.cells) &&
        e.cells.length > 0 &&
        e.cells.length <= REGION_CELLS.length &&
        e.cells.every((c) => (REGION_CELLS as readonly unknown[]).includes(c)) &&
        new Set(e.cells).size === e.cells.length
        ? null
        : `Pick one or more cells of ${REGION_CELLS.join(', ')}.`;
    case 'zoom':
      return (ZOOM_FACTORS as readonly unknown[]).includes(e.factor) ? null : `Zoom out by ${ZOOM_FACTORS.join(' or ')}.`;
    case 'pan':
      return (PAN_DIRECTIONS as readonly unknown[]).includes(e.direction) ? null : `Pan ${PAN_DIRECTIONS.join(', ')}.`;
    case 'upscale':
      return (UPSCALE_MODES as readonly unknown[]).includes(e.mode) ? null : `Upscale ${UPSCALE_MODES.join(' or ')}.`;
    default:
      return 'The edit is not one of region, zoom, pan or upscale.';
  }
}
