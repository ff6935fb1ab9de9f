// DDPM ancestral sampling (Ho et al. 2020) as diffusers' DDPMScheduler, over a spaced
// subset of the training timesteps. Draws noise on every step with t > 0.
import { f32At, f64At } from '../../checked.js';
import { SchedulerBase } from './base.js';
import { checkSameLength, integerTimesteps, sized, type PredictionType } from './common.js';
import { alphaPredictOriginal, readPredictionOptions } from './ddim.js';
import type { NoiseSource, SamplerName, SchedulerConfig, StepResult } from './types.js';

export const DDPM_CLASS = 'DDPMScheduler';

/** diffusers' `DDPMScheduler.__init__` defaults. */
export const DDPM_DEFAULTS: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  variance_type: 'fixed_small',
  clip_sample: true,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
};

const VARIANCE_TYPES = ['fixed_small', 'fixed_small_log', 'fixed_large'] as const;

export class DdpmScheduler extends SchedulerBase {
  protected readonly hasBeginIndex = false;
  private readonly prediction: PredictionType;
  private readonly clipRange: number | null;
  private readonly varianceType: (typeof VARIANCE_TYPES)[number];
  private predOriginal: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, DDPM_CLASS, config, 'rescale');
    ({ prediction: this.prediction, clipRange: this.clipRange } = readPredictionOptions(this.cfg, config));
    // null (e.g. from a DPM-Solver config) falls through diffusers' branches to fixed_small
    this.varianceType = config.variance_type === null ? 'fixed_small' : this.cfg.string('variance_type', VARIANCE_TYPES);
  }

  protected computeTimesteps(n: number): Float64Array {
    return integerTimesteps(this.spacing, this.numTrainTimesteps, n, this.stepsOffset);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource, out: Float32Array): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    this.requireTimesteps();
    const t = this.tableIndex(timestep);
    const prevT = t - Math.floor(this.numTrainTimesteps / this.numInferenceSteps);
    const alphaProd = f64At(this.alphasCumprod, t);
    const alphaProdPrev = prevT >= 0 ? f64At(this.alphasCumprod, prevT) : 1;
    const betaProd = 1 - alphaProd;
    const betaProdPrev = 1 - alphaProdPrev;
    const currentAlpha = alphaProd / alphaProdPrev;
    const currentBeta = 1 - currentAlpha;
    const originalCoeff = (Math.sqrt(alphaProdPrev) * currentBeta) / betaProd;
    const sampleCoeff = (Math.sqrt(currentAlpha) * betaProdPrev) / betaProd;
    // the posterior q(x_{t-1} | x_t, x0) variance, or beta_t for "fixed_large"
    const variance = this.varianceType === 'fixed_large' ? currentBeta : Math.max((betaProdPrev / betaProd) * currentBeta, 1e-20);
    const std = Math.sqrt(variance);
    const z = t > 0 ? noise.randn(n) : null;
    const x0 = (this.predOriginal = sized(this.predOriginal, n));
    for (let k = 0; k < n; k++) {
      const s = f32At(sample, k);
      const pred = alphaPredictOriginal(this.prediction, f32At(modelOutput, k), s, alphaProd, this.clipRange);
      x0[k] = pred;
      out[k] = originalCoeff * pred + sampleCoeff * s + (z === null ? 0 : std * f32At(z, k));
    }
    return { prevSample: out, predOriginal: x0 };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    return this.addNoiseByAlphas(original, noise, timestep, out);
  }
}
