// The frozen name lists of the job contract: samplers, noise generators and job kinds.
// Discord options, the database CHECKs, the pipeline's registries and the PNG parameters
// all take their names from here.

/** The samplers a user can choose (the `sampler` option); each has a scheduler in src/pipeline/schedulers. */
export const SAMPLERS = Object.freeze(['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm', 'ddpm', 'unipc'] as const);
export type SamplerName = (typeof SAMPLERS)[number];

/** Sampler names as AUTOMATIC1111 and most users write them (the PNG `parameters`). */
const SAMPLER_LABELS: Readonly<Record<SamplerName, string>> = Object.freeze({
  euler: 'Euler',
  euler_a: 'Euler a',
  ddim: 'DDIM',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
  pndm: 'PLMS',
  ddpm: 'DDPM',
  unipc: 'UniPC',
});

export function samplerLabel(sampler: SamplerName): string {
  return SAMPLER_LABELS[sampler];
}

export function isSamplerName(name: string): name is SamplerName {
  return (SAMPLERS as readonly string[]).includes(name);
}

/**
 * Noise conventions, so a seed gives the same image as elsewhere: 'numpy' =
 * np.random.RandomState(seed).randn (diffusers' ONNX pipelines), 'torch' = torch.randn on a
 * CPU generator (diffusers, ComfyUI's CPU noise).
 */
export const RNG_NAMES = Object.freeze(['numpy', 'torch'] as const);
export type RngName = (typeof RNG_NAMES)[number];

/** How A1111's `RNG` parameter names each convention. */
export function rngLabel(rng: RngName): string {
  return rng === 'numpy' ? 'NumPy' : 'CPU';
}

/**
 * What made a job: `imagine` (/imagine), `select` (U1-U4: one image of a grid, shown alone,
 * no generation unless its bytes expired), `variation` (V1-V4, Vary), `reroll` (🔄, Rerun: new
 * seed), `rerun` (/rerun: the exact request again), `restore` (/show of a job whose images
 * expired: regenerated exactly, free), and the edits of one image: `region` (Vary (region)),
 * `zoom` (Zoom out), `pan` (the arrows), `upscale` (Upscale).
 */
export const JOB_KINDS = Object.freeze([
  'imagine',
  'select',
  'variation',
  'reroll',
  'rerun',
  'restore',
  'region',
  'zoom',
  'pan',
  'upscale',
] as const);
export type JobKind = (typeof JOB_KINDS)[number];
