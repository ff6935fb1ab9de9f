// The generation request: what a job asks for, validated with exact messages, and the
// AUTOMATIC1111-style parameter text written into every PNG.
import { InvalidRequestError } from './errors.js';
import type { ModelInfo } from './model.js';
import { MAX_SEED, RNG_NAMES, type RngName } from './rng/index.js';
import { SAMPLERS } from './schedulers/registry.js';
import type { SamplerName } from './schedulers/types.js';

export interface GenerationRequest {
  prompt: string;
  negativePrompt: string;
  /** Image i of the batch uses seed + i (mod 2^32), so each image can be rerun alone. */
  seed: number;
  steps: number;
  guidance: number;
  sampler: SamplerName;
  width: number;
  height: number;
  count: number;
  rng: RngName;
  /** img2img: the starting image (PNG or JPEG bytes) and how much of it to repaint (0 < strength <= 1). */
  init?: { image: Uint8Array; strength: number };
}

export const MAX_STEPS = 150;
export const MAX_GUIDANCE = 30;
export const MAX_PROMPT_CHARS = 2000;
export { MAX_SEED, RNG_NAMES };

export interface RequestLimits {
  /** Largest width x height accepted. */
  maxPixels: number;
}

/** Throws InvalidRequestError naming the first bad field and what it accepts. */
export function validateRequest(req: GenerationRequest, model: ModelInfo, limits: RequestLimits): void {
  const fail = (message: string): never => {
    throw new InvalidRequestError(message);
  };
  if (typeof req.prompt !== 'string' || req.prompt.length > MAX_PROMPT_CHARS) fail(`prompt must be text of at most ${MAX_PROMPT_CHARS} characters`);
  if (typeof req.negativePrompt !== 'string' || req.negativePrompt.length > MAX_PROMPT_CHARS) {
    fail(`negative prompt must be text of at most ${MAX_PROMPT_CHARS} characters`);
  }
  if (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > MAX_SEED) fail(`seed must be a whole number from 0 to ${MAX_SEED}`);
  if (!Number.isInteger(req.steps) || req.steps < 1 || req.steps > MAX_STEPS) fail(`steps must be a whole number from 1 to ${MAX_STEPS}`);
  if (typeof req.guidance !== 'number' || !Number.isFinite(req.guidance) || req.guidance < 0 || req.guidance > MAX_GUIDANCE) {
    fail(`guidance must be a number from 0 to ${MAX_GUIDANCE}`);
  }
  if (!SAMPLERS.includes(req.sampler)) fail(`unknown sampler '${String(req.sampler)}'; valid samplers: ${SAMPLERS.join(', ')}`);
  if (!RNG_NAMES.includes(req.rng)) fail(`unknown rng '${String(req.rng)}'; valid: ${RNG_NAMES.join(', ')}`);
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > 4) fail('count must be a whole number from 1 to 4');
  const m = model.sizeMultiple;
  for (const [name, v] of [['width', req.width], ['height', req.height]] as const) {
    if (!Number.isInteger(v) || v < m || v % m !== 0) fail(`${name} must be a positive multiple of ${m} for model ${model.name}`);
  }
  if (req.width * req.height > limits.maxPixels) fail(`width x height must be at most ${limits.maxPixels} pixels`);
  if (req.init !== undefined) {
    if (!model.supportsImg2Img) fail(`model ${model.name} has no vae_encoder, so it cannot start from an image`);
    const s = req.init.strength;
    if (typeof s !== 'number' || !(s > 0 && s <= 1)) fail('strength must be a number greater than 0 and at most 1');
    if (!(req.init.image instanceof Uint8Array) || req.init.image.length === 0) fail('the init image is empty');
  }
}

const SAMPLER_LABELS: Record<SamplerName, string> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  ddim: 'DDIM',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
  pndm: 'PLMS',
  ddpm: 'DDPM',
  unipc: 'UniPC',
};

/** Sampler names as AUTOMATIC1111 and most users write them. */
export function samplerLabel(sampler: SamplerName): string {
  return SAMPLER_LABELS[sampler];
}

/**
 * The `parameters` text of one image, in AUTOMATIC1111's format. Only generation
 * parameters: no job id or time, so a rerun writes identical bytes.
 */
export function formatParameters(req: GenerationRequest, imageSeed: number, model: Pick<ModelInfo, 'name' | 'hash'>): string {
  const fields = [
    `Steps: ${req.steps}`,
    `Sampler: ${samplerLabel(req.sampler)}`,
    `CFG scale: ${req.guidance}`,
    `Seed: ${imageSeed}`,
    `Size: ${req.width}x${req.height}`,
    `Model hash: ${model.hash.slice(0, 10)}`,
    `Model: ${model.name}`,
    `RNG: ${req.rng === 'numpy' ? 'NumPy' : 'CPU'}`,
  ];
  if (req.init) fields.push(`Denoising strength: ${req.init.strength}`);
  const lines = [req.prompt];
  if (req.negativePrompt) lines.push(`Negative prompt: ${req.negativePrompt}`);
  lines.push(fields.join(', '));
  return lines.join('\n');
}

/** The seed of image `index` in a batch. */
export function imageSeed(seed: number, index: number): number {
  return (seed + index) % (MAX_SEED + 1);
}
