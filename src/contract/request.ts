// What a job asks for, every field's limits, and the one validator of those fields. The
// bot validates what users type with it, the database CHECKs are generated from the same
// limits (src/db/schema.ts), and the pipeline validates every request with it before it
// runs, so a value accepted anywhere is accepted everywhere. Each field has one message,
// named as users see it (the /imagine option), so every refusal reads the same.
import { editDenoises, editProblem, type Edit } from './edits.js';
import { InvalidRequestError } from './errors.js';
import type { ModelInfo } from './model-info.js';
import { RNG_NAMES, SAMPLERS, type RngName, type SamplerName } from './names.js';
import { MAX_SEED } from './seed.js';

/** The generation settings a job stores and a rerun repeats exactly. */
export interface GenerationSettings {
  prompt: string;
  negativePrompt: string;
  sampler: SamplerName;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  /** Images in the batch (1-4). */
  count: number;
  /** Seed of image 0; image i uses seed + i (mod 2^32). */
  seed: number;
  rng: RngName;
}

/**
 * Where an img2img job's start image is stored: image `index` of job `jobId`, or a picture a
 * user gave (`/imagine image:`), stored as input `inputId`.
 */
export type StoredImageRef = { jobId: string; index: number } | { inputId: string };

/** A job's request as the bot creates it and the database stores it. */
export interface JobParams extends GenerationSettings {
  /** The model folder's name (also its queue). */
  model: string;
  /** img2img: the stored image to start from and how much of it to repaint; null for text-to-image. */
  init: (StoredImageRef & { strength: number }) | null;
  /** An edit of the start image (region, zoom, pan, upscale); null for plain img2img or text-to-image. */
  edit: Edit | null;
}

/** An edit as the pipeline runs it: a stored job's, or the command line's own mask image (white repaints). */
export type PipelineEdit = Edit | { kind: 'mask'; mask: Uint8Array };

/** A request as the pipeline runs it: the settings, with the start image's bytes. */
export interface GenerationRequest extends GenerationSettings {
  /** img2img: the start image (PNG, JPEG or WebP bytes) and how much of it to repaint (0 < strength <= 1). */
  init?: { image: Uint8Array; strength: number };
  /** An edit of the start image; needs `init`. */
  edit?: PipelineEdit;
}

/** The pipeline request of a job: its settings, with the start image's bytes for img2img. */
export function generationRequest(params: JobParams, initImage: Uint8Array | null): GenerationRequest {
  const { model: _model, init, edit, ...settings } = params;
  if (init === null) return settings;
  if (initImage === null) throw new RangeError('an img2img job needs its start image');
  return { ...settings, init: { image: initImage, strength: init.strength }, ...(edit === null ? {} : { edit }) };
}

/** The limits of every field; nothing else in the code base defines them. */
export const LIMITS = Object.freeze({
  /** Characters (code points) of the prompt and of the negative prompt. */
  promptChars: 1000,
  seed: Object.freeze({ min: 0, max: MAX_SEED }),
  steps: Object.freeze({ min: 1, max: 150 }),
  guidance: Object.freeze({ min: 0, max: 30 }),
  count: Object.freeze({ min: 1, max: 4 }),
  /** Width and height in pixels, before a model's own size rules. */
  side: Object.freeze({ min: 8, max: 8192 }),
  /** img2img strength: above `min`, at most `max`. */
  strength: Object.freeze({ min: 0, max: 1 }),
  /** How much of a user's own picture /imagine repaints (`image_strength`, `--strength`), and its default. */
  imageStrength: Object.freeze({ min: 0.05, max: 1, default: 0.6 }),
});

const MODEL_NAME = /^[a-zA-Z0-9._-]{1,64}$/;

/** A model folder name that can be a queue name and an option value. */
export function isModelName(name: string): boolean {
  return MODEL_NAME.test(name);
}

// Control characters (other than tab and newline) and unpaired surrogates: Postgres
// refuses NUL in text, and none of them belongs in a prompt.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Length in code points, as Postgres' char_length counts (an emoji is one). */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The problem with a text field (`name` as users see it), or null. */
export function textProblem(name: string, value: unknown, options: { required: boolean; maxChars: number }): string | null {
  if (typeof value !== 'string') return `\`${name}\` must be text.`;
  if (options.required && value.trim() === '') return `\`${name}\` must not be empty.`;
  if (textLength(value) > options.maxChars) return `\`${name}\` is too long: at most ${options.maxChars} characters.`;
  if (CONTROL.test(value) || LONE_SURROGATE.test(value))
    return `\`${name}\` contains characters that are not allowed (control characters).`;
  return null;
}

function wholeProblem(name: string, value: unknown, range: { min: number; max: number }): string | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= range.min && value <= range.max
    ? null
    : `\`${name}\` must be a whole number from ${range.min} to ${range.max}.`;
}

/** The problem with a number in [min, max] (`name` as users see it), or null. */
export function numberProblem(name: string, value: unknown, range: { min: number; max: number }): string | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= range.min && value <= range.max
    ? null
    : `\`${name}\` must be a number from ${range.min} to ${range.max}.`;
}

/** The problem with a choice among fixed names (`name` as users see it), or null. */
export function oneOfProblem(name: string, value: unknown, values: readonly string[]): string | null {
  return typeof value === 'string' && values.includes(value) ? null : `\`${name}\` must be one of ${values.join(', ')}.`;
}

/** The problem with an img2img strength, or null. */
export function strengthProblem(value: unknown): string | null {
  const { min, max } = LIMITS.strength;
  return typeof value === 'number' && value > min && value <= max ? null : `\`strength\` must be a number above ${min} and at most ${max}.`;
}

/** Every problem of the settings, one message per bad field, in field order. */
export function settingsProblems(s: GenerationSettings): string[] {
  const problems = [
    textProblem('prompt', s.prompt, { required: true, maxChars: LIMITS.promptChars }),
    textProblem('negative', s.negativePrompt, { required: false, maxChars: LIMITS.promptChars }),
    wholeProblem('seed', s.seed, LIMITS.seed),
    wholeProblem('steps', s.steps, LIMITS.steps),
    numberProblem('guidance', s.guidance, LIMITS.guidance),
    oneOfProblem('sampler', s.sampler, SAMPLERS),
    wholeProblem('count', s.count, LIMITS.count),
    wholeProblem('width', s.width, LIMITS.side),
    wholeProblem('height', s.height, LIMITS.side),
    oneOfProblem('rng', s.rng, RNG_NAMES),
  ];
  return problems.filter((p): p is string => p !== null);
}

/** Every problem of a job's request (settings, model name, init reference). */
export function jobParamsProblems(p: JobParams): string[] {
  const problems = settingsProblems(p);
  if (typeof p.model !== 'string' || !isModelName(p.model))
    problems.push("`model` must be a model name (1-64 letters, digits, '.', '_' or '-').");
  if (p.init !== null) {
    const strength = strengthProblem(p.init.strength);
    if (strength !== null) problems.push(strength);
    if ('index' in p.init && (!Number.isInteger(p.init.index) || p.init.index < 0 || p.init.index >= LIMITS.count.max))
      problems.push('the source image index must be 0 to 3.');
  }
  if (p.edit !== null) {
    const edit = editProblem(p.edit);
    if (edit !== null) problems.push(edit);
    if (p.init === null) problems.push('An edit needs an image to start from.');
  }
  return problems;
}

/** The size rules of one model (from what its worker advertises) and of the deployment. */
export function sizeProblem(
  width: number,
  height: number,
  model: Pick<ModelInfo, 'name' | 'sizeMultiple' | 'fixedSize'>,
  maxPixels: number,
): string | null {
  if (model.fixedSize !== null && (width !== model.fixedSize.width || height !== model.fixedSize.height)) {
    return `Model \`${model.name}\` only makes ${model.fixedSize.width}x${model.fixedSize.height} images (its ONNX export has fixed spatial sizes), not ${width}x${height}.`;
  }
  const m = model.sizeMultiple;
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (v % m !== 0) return `\`${name}\` must be a multiple of ${m} for model \`${model.name}\`, not ${v}.`;
  }
  return pixelsProblem(width, height, maxPixels);
}

function pixelsProblem(width: number, height: number, maxPixels: number): string | null {
  return width * height > maxPixels ? `\`width\` x \`height\` must be at most ${maxPixels} pixels, not ${width}x${height}.` : null;
}

/**
 * What a model (as its worker advertises it) cannot do of these settings: sampler, size,
 * img2img. An edit that runs no denoising (a subtle upscale) only has to fit `maxPixels`:
 * its size is the upscaler's, not the UNet's, and it needs no VAE encoder.
 */
export function modelProblems(
  s: GenerationSettings & { edit?: PipelineEdit | null },
  model: ModelInfo,
  options: { maxPixels: number; img2img: boolean },
): string[] {
  const problems: string[] = [];
  if (!model.samplers.includes(s.sampler))
    problems.push(`Model \`${model.name}\` has no sampler \`${s.sampler}\`. Its samplers: ${model.samplers.join(', ')}.`);
  const denoises = s.edit === undefined || s.edit === null || s.edit.kind === 'mask' || editDenoises(s.edit);
  const size = denoises ? sizeProblem(s.width, s.height, model, options.maxPixels) : pixelsProblem(s.width, s.height, options.maxPixels);
  if (size !== null) problems.push(size);
  if (denoises && options.img2img && !model.supportsImg2Img)
    problems.push(`Model \`${model.name}\` has no vae_encoder, so it cannot start from an image.`);
  return problems;
}

/** Throws InvalidRequestError with the first problem of a pipeline request (settings, model, start image). */
export function validateGenerationRequest(req: GenerationRequest, model: ModelInfo, maxPixels: number): void {
  const problems = settingsProblems(req);
  if (problems.length === 0) problems.push(...modelProblems(req, model, { maxPixels, img2img: req.init !== undefined }));
  if (req.init !== undefined) {
    const strength = strengthProblem(req.init.strength);
    if (strength !== null) problems.push(strength);
    if (!(req.init.image instanceof Uint8Array) || req.init.image.length === 0) problems.push('The start image is empty.');
  }
  if (req.edit !== undefined) {
    if (req.init === undefined) problems.push('An edit needs an image to start from.');
    if (req.edit.kind === 'mask') {
      if (!(req.edit.mask instanceof Uint8Array) || req.edit.mask.length === 0) problems.push('The mask image is empty.');
    } else {
      const edit = editProblem(req.edit);
      if (edit !== null) problems.push(edit);
    }
  }
  const [problem] = problems;
  if (problem !== undefined) throw new InvalidRequestError(problem);
}
