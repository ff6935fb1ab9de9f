// DDIM (Song et al. 2020) as diffusers' DDIMScheduler, with eta for the stochastic variant.
import { f32At, f64At } from '../../checked.js';
import { SchedulerBase } from './base.js';
import { type ConfigReader, PREDICTION_TYPES, type PredictionType, checkSameLength, integerTimesteps, sized } from './common.js';
import { SchedulerUsageError } from './errors.js';
import type { NoiseSource, SamplerName, SchedulerConfig, StepOptions, StepResult } from './types.js';

export const DDIM_CLASS = 'DDIMScheduler';

/** diffusers' `DDIMScheduler.__init__` defaults. */
export const DDIM_DEFAULTS: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
};

/**
 * x0 from a model output in the alphas_cumprod parameterisation of the DDPM family
 * (`x_t = sqrt(a) x0 + sqrt(1 - a) eps`), clamped to +-clipRange when clipping is on.
 */
export function alphaPredictOriginal(
  prediction: PredictionType,
  modelOutput: number,
  sample: number,
  alphaProd: number,
  clipRange: number | null,
): number {
  const sqrtA = Math.sqrt(alphaProd);
  const sqrtB = Math.sqrt(1 - alphaProd);
  let x0: number;
  if (prediction === 'epsilon') x0 = (sample - sqrtB * modelOutput) / sqrtA;
  else if (prediction === 'v_prediction') x0 = sqrtA * sample - sqrtB * modelOutput;
  else x0 = modelOutput;
  return clipRange === null ? x0 : Math.min(clipRange, Math.max(-clipRange, x0));
}

/** Reads the DDPM family's prediction / clipping options (dynamic thresholding is not implemented). */
export function readPredictionOptions(
  cfg: ConfigReader,
  config: Readonly<SchedulerConfig>,
): { prediction: PredictionType; clipRange: number | null } {
  cfg.unsupported('thresholding', config.thresholding !== true, 'false');
  return {
    prediction: cfg.string('prediction_type', PREDICTION_TYPES),
    clipRange: cfg.bool('clip_sample') ? cfg.number('clip_sample_range') : null,
  };
}

export class DdimScheduler extends SchedulerBase {
  protected readonly hasBeginIndex = false;
  private readonly prediction: PredictionType;
  private readonly clipRange: number | null;
  private readonly alphaCumprodAtEnd: number;
  private predOriginal: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, DDIM_CLASS, config, 'rescale');
    ({ prediction: this.prediction, clipRange: this.clipRange } = readPredictionOptions(this.cfg, config));
    this.alphaCumprodAtEnd = this.finalAlphaCumprod();
  }

  protected computeTimesteps(n: number): Float64Array {
    return integerTimesteps(this.spacing, this.numTrainTimesteps, n, this.stepsOffset);
  }

  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    noise: NoiseSource,
    out: Float32Array,
    opts?: StepOptions,
  ): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    this.requireTimesteps();
    const eta = opts?.eta ?? 0;
    if (!(eta >= 0)) throw new SchedulerUsageError(`DDIM eta must be 0 or more, got ${eta}`);
    const t = this.tableIndex(timestep);
    const prevT = t - Math.floor(this.numTrainTimesteps / this.numInferenceSteps);
    const alphaProd = f64At(this.alphasCumprod, t);
    const alphaProdPrev = prevT >= 0 ? f64At(this.alphasCumprod, prevT) : this.alphaCumprodAtEnd;
    const betaProd = 1 - alphaProd;
    const variance = ((1 - alphaProdPrev) / betaProd) * (1 - alphaProd / alphaProdPrev);
    const std = eta * Math.sqrt(variance);
    const directionScale = Math.sqrt(1 - alphaProdPrev - std * std);
    const z = eta > 0 ? noise.randn(n) : null;
    const x0 = (this.predOriginal = sized(this.predOriginal, n));
    for (let k = 0; k < n; k++) {
      const s = f32At(sample, k);
      const m = f32At(modelOutput, k);
      const pred = alphaPredictOriginal(this.prediction, m, s, alphaProd, this.clipRange);
      // the noise direction uses the unclipped epsilon, as diffusers does by default
      const eps =
        this.prediction === 'epsilon'
          ? m
          : this.prediction === 'v_prediction'
            ? Math.sqrt(alphaProd) * m + Math.sqrt(betaProd) * s
            : (s - Math.sqrt(alphaProd) * m) / Math.sqrt(betaProd);
      x0[k] = pred;
      out[k] = Math.sqrt(alphaProdPrev) * pred + directionScale * eps + (z === null ? 0 : std * f32At(z, k));
    }
    return { prevSample: out, predOriginal: x0 };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    return this.addNoiseByAlphas(original, noise, timestep, out);
  }
}
