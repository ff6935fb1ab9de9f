// Builds the sampler a user chose from a model's scheduler_config.json, the way
// diffusers' `XScheduler.from_config(pipe.scheduler.config)` does: the model's values
// (betas, prediction_type, timestep_spacing, steps_offset, ...) win over the class
// defaults, and keys the class does not use are kept so the config round-trips.
import { DDIM_CLASS, DDIM_DEFAULTS, DdimScheduler } from './ddim.js';
import { DDPM_CLASS, DDPM_DEFAULTS, DdpmScheduler } from './ddpm.js';
import { DPM_CLASS, DPM_DEFAULTS, DpmSolverMultistepScheduler, normaliseDpmConfig } from './dpm-solver-multistep.js';
import { UnknownSamplerError } from './errors.js';
import { EULER_ANCESTRAL_CLASS, EULER_ANCESTRAL_DEFAULTS, EulerAncestralScheduler } from './euler-ancestral.js';
import { EULER_CLASS, EULER_DEFAULTS, EulerScheduler } from './euler.js';
import { LCM_CLASS, LCM_DEFAULTS, LcmScheduler } from './lcm.js';
import { PNDM_CLASS, PNDM_DEFAULTS, PndmScheduler } from './pndm.js';
import type { SamplerName, Scheduler, SchedulerConfig } from './types.js';
import { UNIPC_CLASS, UNIPC_DEFAULTS, UniPcScheduler, normaliseUniPcConfig } from './unipc.js';
import { isSamplerName, SAMPLERS } from '../../contract/names.js';

export { UnknownSamplerError };

interface SamplerSpec {
  className: string;
  defaults: SchedulerConfig;
  /** Values the sampler name itself decides (e.g. Karras sigmas for dpmpp_2m_karras). */
  forced: SchedulerConfig;
  /** Rewrites diffusers' constructor applies to foreign values (e.g. UniPC's solver_type in DPM). */
  normalise: (config: SchedulerConfig) => SchedulerConfig;
  create: (name: SamplerName, config: SchedulerConfig) => Scheduler;
}

const asIs = (config: SchedulerConfig) => config;

const SPECS: Record<SamplerName, SamplerSpec> = {
  euler: {
    className: EULER_CLASS,
    defaults: EULER_DEFAULTS,
    forced: {},
    normalise: asIs,
    create: (n, c) => new EulerScheduler(n, c),
  },
  euler_a: {
    className: EULER_ANCESTRAL_CLASS,
    defaults: EULER_ANCESTRAL_DEFAULTS,
    forced: {},
    normalise: asIs,
    create: (n, c) => new EulerAncestralScheduler(n, c),
  },
  ddim: { className: DDIM_CLASS, defaults: DDIM_DEFAULTS, forced: {}, normalise: asIs, create: (n, c) => new DdimScheduler(n, c) },
  dpmpp_2m: {
    className: DPM_CLASS,
    defaults: DPM_DEFAULTS,
    forced: { use_karras_sigmas: false },
    normalise: normaliseDpmConfig,
    create: (n, c) => new DpmSolverMultistepScheduler(n, c),
  },
  dpmpp_2m_karras: {
    className: DPM_CLASS,
    defaults: DPM_DEFAULTS,
    forced: { use_karras_sigmas: true },
    normalise: normaliseDpmConfig,
    create: (n, c) => new DpmSolverMultistepScheduler(n, c),
  },
  lcm: { className: LCM_CLASS, defaults: LCM_DEFAULTS, forced: {}, normalise: asIs, create: (n, c) => new LcmScheduler(n, c) },
  pndm: {
    className: PNDM_CLASS,
    defaults: PNDM_DEFAULTS,
    forced: {},
    normalise: asIs,
    create: (n, c) => new PndmScheduler(n, c),
  },
  ddpm: { className: DDPM_CLASS, defaults: DDPM_DEFAULTS, forced: {}, normalise: asIs, create: (n, c) => new DdpmScheduler(n, c) },
  unipc: {
    className: UNIPC_CLASS,
    defaults: UNIPC_DEFAULTS,
    forced: {},
    normalise: normaliseUniPcConfig,
    create: (n, c) => new UniPcScheduler(n, c),
  },
};

/**
 * The scheduler for `sampler`, configured from a model's scheduler_config.json (any
 * class). Throws UnknownSamplerError (listing the valid names) for an unknown sampler and
 * InvalidSchedulerConfigError for a config value of the wrong type or an option we do not implement.
 */
export function createScheduler(sampler: string, baseConfig: Readonly<SchedulerConfig>): Scheduler {
  if (!isSamplerName(sampler)) throw new UnknownSamplerError(sampler, SAMPLERS);
  const spec = SPECS[sampler];
  const { _class_name: _ignored, ...base } = baseConfig;
  const config = spec.normalise({ _class_name: spec.className, ...spec.defaults, ...base, ...spec.forced });
  return spec.create(sampler, Object.freeze(config));
}

/**
 * The sampler that reproduces a diffusers scheduler class, e.g. a model's default
 * sampler. Pass the config to tell DPM-Solver++ with Karras sigmas apart; classes we do
 * not implement (LMS, Heun, ...) fall back to euler.
 */
export function samplerForClassName(className: string, config: Readonly<SchedulerConfig> = {}): SamplerName {
  if (className === DPM_CLASS) return config.use_karras_sigmas === true ? 'dpmpp_2m_karras' : 'dpmpp_2m';
  return SAMPLERS.find((name) => SPECS[name].className === className) ?? 'euler';
}
