// What every scheduler class shares: the resolved config and its alphas_cumprod table,
// the timestep / step-index / begin-index bookkeeping of diffusers' SchedulerMixin,
// and the img2img timestep selection of diffusers' img2img pipelines.
import { f32At, f64At } from '../../checked.js';
import {
  ConfigReader,
  TIMESTEP_SPACINGS,
  type TimestepSpacing,
  type ZeroSnrHandling,
  alphasCumprodFromConfig,
  checkSameLength,
  f32,
  indexForTimestep,
  sized,
} from './common.js';
import { SchedulerUsageError } from './errors.js';
import type { Img2ImgTimesteps, NoiseSource, SamplerName, Scheduler, SchedulerConfig, StepOptions, StepResult } from './types.js';

export abstract class SchedulerBase implements Scheduler {
  readonly order = 1;
  timesteps: Float64Array = new Float64Array(0);
  sigmas: Float64Array | null = null;
  beginIndex: number | null = null;
  protected readonly cfg: ConfigReader;
  protected readonly alphasCumprod: Float64Array;
  protected readonly numTrainTimesteps: number;
  protected readonly spacing: TimestepSpacing;
  protected readonly stepsOffset: number;
  /** Index into `timesteps` of the next step, once the first step (or scaleModelInput) fixed it. */
  protected stepIndex: number | null = null;
  protected numInferenceSteps = 0;
  /** Whether diffusers' img2img pipeline calls `set_begin_index` for this class (so steps start from a fixed index). */
  protected abstract readonly hasBeginIndex: boolean;

  constructor(
    readonly name: SamplerName,
    readonly className: string,
    readonly config: Readonly<SchedulerConfig>,
    zeroSnr: ZeroSnrHandling,
  ) {
    this.cfg = new ConfigReader(config, className);
    this.numTrainTimesteps = this.cfg.int('num_train_timesteps', 1);
    this.spacing = this.cfg.string('timestep_spacing', TIMESTEP_SPACINGS);
    this.stepsOffset = this.cfg.int('steps_offset', 0);
    this.alphasCumprod = alphasCumprodFromConfig(this.cfg, zeroSnr);
  }

  get initNoiseSigma(): number {
    return 1;
  }

  setTimesteps(numInferenceSteps: number, opts?: { strength?: number }): void {
    if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1 || numInferenceSteps > this.numTrainTimesteps) {
      throw new SchedulerUsageError(`number of steps must be a whole number from 1 to ${this.numTrainTimesteps}, got ${numInferenceSteps}`);
    }
    if (opts?.strength !== undefined && opts.strength !== 1) {
      throw new SchedulerUsageError(`${this.className} takes no strength in setTimesteps; use img2imgTimesteps`);
    }
    this.numInferenceSteps = numInferenceSteps;
    this.stepIndex = null;
    this.beginIndex = null;
    this.timesteps = this.computeTimesteps(numInferenceSteps);
    this.resetHistory();
  }

  /** The class's `set_timesteps`: returns the timesteps and may set `sigmas`. */
  protected abstract computeTimesteps(numInferenceSteps: number): Float64Array;

  /** Forgets multistep history at the start of a run. */
  protected resetHistory(): void {}

  scaleModelInput(sample: Float32Array, _timestep: number, out?: Float32Array): Float32Array {
    if (out === undefined || out === sample) return sample;
    out.set(sample);
    return out;
  }

  abstract step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    noise: NoiseSource,
    out: Float32Array,
    opts?: StepOptions,
  ): StepResult;

  abstract addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array;

  img2imgTimesteps(numInferenceSteps: number, strength: number): Img2ImgTimesteps {
    checkStrength(strength);
    this.setTimesteps(numInferenceSteps);
    // diffusers' get_timesteps: int(N * strength) truncates the float64 product (50 * 0.58 -> 28)
    const initTimestep = Math.min(Math.trunc(numInferenceSteps * strength), numInferenceSteps);
    const tStart = Math.max(numInferenceSteps - initTimestep, 0);
    const beginIndex = tStart * this.order;
    if (this.hasBeginIndex) this.beginIndex = beginIndex;
    return {
      timesteps: this.timesteps.slice(beginIndex),
      beginIndex,
      numInferenceSteps: numInferenceSteps - tStart,
    };
  }

  protected requireTimesteps(): void {
    if (this.timesteps.length === 0) {
      throw new SchedulerUsageError(`${this.className}: call setTimesteps before stepping`);
    }
  }

  /** Index of `timestep` in the schedule when the first step does not come from a begin index. */
  protected indexOfFirstTimestep(timestep: number): number {
    const index = indexForTimestep(this.timesteps, timestep);
    if (index < 0) throw new SchedulerUsageError(`${this.className}: timestep ${timestep} is not in the schedule`);
    return index;
  }

  /** The step index of this call, fixed on the first call from the begin index or the timestep. */
  protected currentStepIndex(timestep: number): number {
    this.requireTimesteps();
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? this.indexOfFirstTimestep(timestep);
    return this.stepIndex;
  }

  /** The training-table index of an integer timestep. */
  protected tableIndex(timestep: number): number {
    if (!Number.isInteger(timestep) || timestep < 0 || timestep >= this.numTrainTimesteps) {
      throw new SchedulerUsageError(
        `${this.className}: timestep must be a whole number from 0 to ${this.numTrainTimesteps - 1}, got ${timestep}`,
      );
    }
    return timestep;
  }

  /** alphas_cumprod "before" timestep 0, where the last DDIM / PNDM / LCM step lands: 1 with set_alpha_to_one. */
  protected finalAlphaCumprod(): number {
    return this.cfg.bool('set_alpha_to_one') ? 1 : f64At(this.alphasCumprod, 0);
  }

  /** `sqrt(ac[t]) * x + sqrt(1 - ac[t]) * noise`: add_noise of the DDPM family (DDPM, DDIM, PNDM, LCM). */
  protected addNoiseByAlphas(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    checkSameLength({ original, noise, out });
    const a = f64At(this.alphasCumprod, this.tableIndex(timestep));
    const sqrtAlpha = f32(Math.sqrt(a));
    const sqrtOneMinusAlpha = f32(Math.sqrt(f32(1 - a)));
    for (let k = 0; k < out.length; k++) out[k] = sqrtAlpha * f32At(original, k) + sqrtOneMinusAlpha * f32At(noise, k);
    return out;
  }
}

export function checkStrength(strength: number): void {
  if (!(strength > 0 && strength <= 1)) {
    throw new SchedulerUsageError(`img2img strength must be above 0 and at most 1, got ${strength}`);
  }
}

/** Schedulers with a sigma per timestep (Euler, Euler ancestral, DPM-Solver++, UniPC). */
abstract class SigmaSchedulerBase extends SchedulerBase {
  protected readonly hasBeginIndex = true;

  protected requireSigmas(): Float64Array {
    this.requireTimesteps();
    return this.sigmas as Float64Array;
  }

  /** Which sigma add_noise uses: diffusers looks the timestep up unless a begin index is set. */
  protected noiseIndex(timestep: number): number {
    if (this.beginIndex === null) return this.indexOfFirstTimestep(timestep);
    return this.stepIndex ?? this.beginIndex;
  }
}

/**
 * Euler and Euler ancestral (k-diffusion style): the sample lives at scale sigma, the
 * model input is divided by sqrt(sigma^2 + 1), and img2img noise is added as x + sigma * n.
 */
export abstract class EulerFamilyBase extends SigmaSchedulerBase {
  private scaled: Float32Array | null = null;

  override get initNoiseSigma(): number {
    const sigmas = this.requireSigmas();
    const max = sigmas.reduce((m, s) => Math.max(m, s), 0);
    // diffusers: plain sigma_max for "linspace"/"trailing", sqrt(sigma_max^2 + 1) for "leading" (float32 tensor math)
    if (this.spacing !== 'leading') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  override scaleModelInput(sample: Float32Array, timestep: number, out?: Float32Array): Float32Array {
    const sigma = f64At(this.requireSigmas(), this.currentStepIndex(timestep));
    const target = out ?? (this.scaled = sized(this.scaled, sample.length));
    checkSameLength({ sample, out: target });
    const scale = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    for (let k = 0; k < sample.length; k++) target[k] = f32At(sample, k) / scale;
    return target;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    checkSameLength({ original, noise, out });
    const sigma = f64At(this.requireSigmas(), this.noiseIndex(timestep));
    for (let k = 0; k < out.length; k++) out[k] = f32At(original, k) + f32(f32At(noise, k) * sigma);
    return out;
  }
}

/**
 * DPM-Solver++ and UniPC: multistep solvers on the variance-preserving sigmas. No input
 * scaling; add_noise is alpha_t * x + sigma_t * n; a first timestep missing from the
 * schedule maps to the last index (diffusers' fallback).
 */
export abstract class MultistepBase extends SigmaSchedulerBase {
  protected override indexOfFirstTimestep(timestep: number): number {
    const index = indexForTimestep(this.timesteps, timestep);
    return index < 0 ? this.timesteps.length - 1 : index;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    checkSameLength({ original, noise, out });
    const sigma = f64At(this.requireSigmas(), this.noiseIndex(timestep));
    const alphaT = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
    const sigmaT = f32(sigma * alphaT);
    for (let k = 0; k < out.length; k++) out[k] = f32(alphaT * f32At(original, k)) + f32(sigmaT * f32At(noise, k));
    return out;
  }
}
