// Euler (Karras et al. 2022, Algorithm 2 without churn) as diffusers' EulerDiscreteScheduler.
import { f32At, f64At } from '../../checked.js';
import { EulerFamilyBase } from './base.js';
import {
  PREDICTION_TYPES,
  type PredictionType,
  checkSameLength,
  eulerTimesteps,
  exponentialSigmas,
  f32,
  interpAtIndex,
  karrasSigmas,
  logOf,
  sigmaToT,
  sized,
  trainingSigmas,
} from './common.js';
import type { NoiseSource, SamplerName, SchedulerConfig, StepResult } from './types.js';

export const EULER_CLASS = 'EulerDiscreteScheduler';

/** diffusers' `EulerDiscreteScheduler.__init__` defaults. */
export const EULER_DEFAULTS: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  sigma_min: null,
  sigma_max: null,
  timestep_spacing: 'linspace',
  timestep_type: 'discrete',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
};

/**
 * x0 from an Euler-family model output at `sigma`, and the Euler update. Unlike the other
 * samplers these round to float32 after every operation, in torch's order: the sample
 * lives at scale sigma (up to thousands with zero-SNR schedules), so x and
 * (x - x0) / sigma * dt nearly cancel and float64 would drift from diffusers' float32
 * results by far more than their rounding noise.
 */
export class EulerArithmetic {
  private readonly vOutputScale: number;
  private readonly vSampleDivisor: number;

  constructor(
    private readonly prediction: PredictionType,
    private readonly sigma: number,
  ) {
    const sigmaSquaredPlusOne = f32(f32(sigma * sigma) + 1);
    this.vOutputScale = f32(-sigma / f32(Math.sqrt(sigmaSquaredPlusOne)));
    this.vSampleDivisor = sigmaSquaredPlusOne;
  }

  predictOriginal(modelOutput: number, sample: number): number {
    if (this.prediction === 'epsilon') return f32(sample - f32(this.sigma * modelOutput));
    if (this.prediction === 'v_prediction') return f32(f32(modelOutput * this.vOutputScale) + f32(sample / this.vSampleDivisor));
    return modelOutput;
  }

  /** `sample + (sample - x0) / sigma * dt`. */
  eulerStep(sample: number, predOriginal: number, dt: number): number {
    return f32(sample + f32(f32(f32(sample - predOriginal) / this.sigma) * dt));
  }
}

export class EulerScheduler extends EulerFamilyBase {
  private readonly prediction: PredictionType;
  private readonly customSigmas: typeof karrasSigmas | null;
  private readonly sigmaMin: number | null;
  private readonly sigmaMax: number | null;
  private readonly finalSigma: 'zero' | 'sigma_min';
  private readonly continuousTimesteps: boolean;
  private predOriginal: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, EULER_CLASS, config, 'rescale_and_clamp');
    const c = this.cfg;
    this.prediction = c.string('prediction_type', PREDICTION_TYPES);
    this.customSigmas = c.bool('use_karras_sigmas') ? karrasSigmas : c.bool('use_exponential_sigmas') ? exponentialSigmas : null;
    this.sigmaMin = c.optionalNumber('sigma_min');
    this.sigmaMax = c.optionalNumber('sigma_max');
    this.finalSigma = c.string('final_sigmas_type', ['zero', 'sigma_min']);
    this.continuousTimesteps = c.string('timestep_type', ['discrete', 'continuous']) === 'continuous' && this.prediction === 'v_prediction';
    c.unsupported('interpolation_type', config.interpolation_type === 'linear', '"linear"');
    c.unsupported('use_beta_sigmas', config.use_beta_sigmas !== true, 'false');
  }

  protected computeTimesteps(n: number): Float64Array {
    let timesteps: Float64Array = eulerTimesteps(this.spacing, this.numTrainTimesteps, n, this.stepsOffset);
    const table = trainingSigmas(this.alphasCumprod);
    let sigmas: Float64Array = timesteps.map((t) => interpAtIndex(t, table));
    if (this.customSigmas !== null) {
      // Euler spans the range of the spaced timesteps (not the full training range), unless sigma_min/max are set
      const sigmaMin = this.sigmaMin ?? f64At(sigmas, sigmas.length - 1);
      const sigmaMax = this.sigmaMax ?? f64At(sigmas, 0);
      sigmas = this.customSigmas(sigmaMin, sigmaMax, n);
      const logSigmas = logOf(table);
      timesteps = sigmas.map((s) => f32(sigmaToT(s, logSigmas)));
    }
    const last = this.finalSigma === 'sigma_min' ? f64At(table, 0) : 0;
    this.sigmas = Float64Array.from([...sigmas, last], f32);
    if (this.continuousTimesteps) {
      // EDM-style conditioning: the UNet sees c_noise = log(sigma) / 4
      return this.sigmas.slice(0, n).map((s) => f32(0.25 * f32(Math.log(s))));
    }
    return timesteps;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _noise: NoiseSource, out: Float32Array): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    const i = this.currentStepIndex(timestep);
    const sigmas = this.requireSigmas();
    const sigma = f64At(sigmas, i);
    const math = new EulerArithmetic(this.prediction, sigma);
    const dt = f32(f64At(sigmas, i + 1) - sigma);
    const x0 = (this.predOriginal = sized(this.predOriginal, n));
    for (let k = 0; k < n; k++) {
      const s = f32At(sample, k);
      const pred = math.predictOriginal(f32At(modelOutput, k), s);
      x0[k] = pred;
      out[k] = math.eulerStep(s, pred, dt);
    }
    this.stepIndex = i + 1;
    return { prevSample: out, predOriginal: x0 };
  }
}
