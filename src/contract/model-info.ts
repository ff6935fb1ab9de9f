// What a worker advertises about each model it serves (in its Redis heartbeat), and what
// the bot and the pipeline decide with it: sizes, samplers, img2img.
import { isSamplerName, type SamplerName } from './names.js';

export interface ModelInfo {
  /** The model folder's name: what users pick in `/imagine model:`. */
  name: string;
  nativeWidth: number;
  nativeHeight: number;
  /** Width and height must be multiples of this: the VAE factor times 2 per UNet downsampling stage. */
  sizeMultiple: number;
  /** The only size an export with fixed spatial axes accepts; null when any multiple works. */
  fixedSize: { width: number; height: number } | null;
  /** The sampler matching the model's own scheduler config. */
  defaultSampler: SamplerName;
  samplers: SamplerName[];
  /** It has a VAE encoder (variations, img2img). */
  supportsImg2Img: boolean;
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * A heartbeat's model entry, or null when it is not one. Fields added after a worker's
 * release get their old meaning, so the bot reads older workers during a rolling upgrade.
 */
export function parseModelInfo(raw: unknown): ModelInfo | null {
  if (raw === null || typeof raw !== 'object') return null;
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string' || !positive(m.nativeWidth) || !positive(m.nativeHeight) || !positive(m.sizeMultiple)) return null;
  const samplers = Array.isArray(m.samplers) ? m.samplers.filter((s): s is SamplerName => typeof s === 'string' && isSamplerName(s)) : [];
  const defaultSampler = typeof m.defaultSampler === 'string' && isSamplerName(m.defaultSampler) ? m.defaultSampler : samplers[0];
  if (defaultSampler === undefined) return null;
  const fixed = m.fixedSize as { width?: unknown; height?: unknown } | null | undefined;
  return {
    name: m.name,
    nativeWidth: m.nativeWidth,
    nativeHeight: m.nativeHeight,
    sizeMultiple: m.sizeMultiple,
    fixedSize: fixed && positive(fixed.width) && positive(fixed.height) ? { width: fixed.width, height: fixed.height } : null,
    defaultSampler,
    samplers,
    supportsImg2Img: m.supportsImg2Img !== false,
  };
}
