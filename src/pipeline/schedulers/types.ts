// The scheduler contract shared by the denoising loop (generate.ts), the CLI and the
// vector checks. Shapes follow diffusers' schedulers so that its numbers carry over.

import type { SamplerName } from '../../contract/names.js';

export type { SamplerName };

/**
 * diffusers' `scheduler_config.json` (snake_case keys, as in the file). Float values may
 * be the strings "Infinity", "-Infinity" or "NaN", since JSON has no literal for them.
 */
export type SchedulerConfig = Record<string, unknown>;

/** A source of unit normal draws (float32), e.g. the torch CPU generator of src/pipeline/rng. */
export interface NoiseSource {
  randn(n: number): Float32Array;
}

/** Extra arguments of one step, as diffusers pipelines pass them to `scheduler.step`. */
export interface StepOptions {
  /** DDIM only: the eta of the DDIM paper (0 = deterministic, 1 = DDPM-like). Default 0. */
  eta?: number;
}

export interface StepResult {
  /** The `out` array passed to `step`, holding the sample for the next timestep. */
  prevSample: Float32Array;
  /**
   * The model's prediction of the clean sample (x0) at this step, when the method has
   * it (for previews). A buffer owned by the scheduler, overwritten by the next step.
   */
  predOriginal?: Float32Array;
}

export interface Img2ImgTimesteps {
  /** The timesteps the img2img loop runs, in order. */
  timesteps: Float64Array;
  /** Index of the first of them in the full schedule (`t_start * order`). */
  beginIndex: number;
  /** What diffusers' pipeline reports as the effective step count (`N - t_start`). */
  numInferenceSteps: number;
}

/**
 * A sampler in the style of diffusers (`set_timesteps`, `scale_model_input`, `step`,
 * `add_noise`). Tensors are flat Float32Arrays in [B,C,H,W] order; the math runs in
 * float64 with the float32 constants diffusers uses. A scheduler is stateful: call
 * `setTimesteps` (or `img2imgTimesteps`) before each run; it resets all step history.
 */
export interface Scheduler {
  readonly name: SamplerName;
  /** The full resolved config (diffusers defaults filled in); `createScheduler(name, config)` rebuilds this scheduler. */
  readonly config: Readonly<SchedulerConfig>;
  /** diffusers' class this sampler reproduces, e.g. "EulerDiscreteScheduler". */
  readonly className: string;
  /** `scheduler.timesteps` after `setTimesteps` (int or float values as diffusers has them). */
  readonly timesteps: Float64Array;
  /** `scheduler.sigmas` (float32 values, one more than timesteps) for sigma-based classes, else null. */
  readonly sigmas: Float64Array | null;
  /** Factor for the initial noise of txt2img (`noise * initNoiseSigma`). */
  readonly initNoiseSigma: number;
  readonly order: number;
  /** `scheduler.begin_index`: set by `img2imgTimesteps` for classes that have `set_begin_index`, else null. */
  readonly beginIndex: number | null;
  /**
   * Computes the timesteps for `numInferenceSteps` and resets the step history.
   * `strength` (default 1) is honoured by LCM only, as diffusers' `LCMScheduler.set_timesteps`
   * does; use `img2imgTimesteps` for img2img with any sampler.
   */
  setTimesteps(numInferenceSteps: number, opts?: { strength?: number }): void;
  /**
   * The UNet input for `sample` at `timestep`. Writes into `out` when given; without
   * `out` it returns `sample` itself when no scaling applies, else a scheduler-owned
   * buffer overwritten by the next call.
   */
  scaleModelInput(sample: Float32Array, timestep: number, out?: Float32Array): Float32Array;
  /**
   * One denoising step from `timestep`; writes the next sample into `out` (which may be
   * `sample` itself, for in-place updates). Stochastic samplers draw at most one
   * `noise.randn(sample.length)` per call, at the same steps as diffusers.
   */
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    noise: NoiseSource,
    out: Float32Array,
    opts?: StepOptions,
  ): StepResult;
  /** `scheduler.add_noise(original, noise, timestep)` for one timestep (one batch item or all); writes into `out`. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array;
  /**
   * img2img: runs `setTimesteps(numInferenceSteps)` and returns the timesteps to run and the
   * begin index exactly as diffusers' img2img pipelines compute them (`get_timesteps`,
   * with `int(N * strength)` truncated in float64; LCM passes strength to its own
   * `set_timesteps`). Also sets `beginIndex` where diffusers calls `set_begin_index`.
   */
  img2imgTimesteps(numInferenceSteps: number, strength: number): Img2ImgTimesteps;
}
