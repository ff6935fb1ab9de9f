// Latent Consistency Model multistep sampling (Luo et al. 2023) as diffusers' LCMScheduler:
// each step predicts the clean sample through the consistency boundary condition, then
// re-noises it to the next timestep (no noise after the last step).
import { f32At, f64At } from '../../checked.js';
import { SchedulerBase, checkStrength } from './base.js';
import { checkSameLength, linspace, sized, type PredictionType } from './common.js';
import { alphaPredictOriginal, readPredictionOptions } from './ddim.js';
import { InvalidSchedulerConfigError, SchedulerUsageError } from './errors.js';
import type { Img2ImgTimesteps, NoiseSource, SamplerName, SchedulerConfig, StepResult } from './types.js';

export const LCM_CLASS = 'LCMScheduler';

/** diffusers' `LCMScheduler.__init__` defaults. */
export const LCM_DEFAULTS: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  original_inference_steps: 50,
  clip_sample: false,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  timestep_scaling: 10.0,
  rescale_betas_zero_snr: false,
};

const SIGMA_DATA = 0.5;

export class LcmScheduler extends SchedulerBase {
  // LatentConsistencyModelImg2ImgPipeline sets no begin index
  protected readonly hasBeginIndex = false;
  private readonly prediction: PredictionType;
  private readonly clipRange: number | null;
  private readonly alphaCumprodAtEnd: number;
  private readonly originalSteps: number;
  private readonly timestepScaling: number;
  private strength = 1;
  private denoised: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, LCM_CLASS, config, 'rescale');
    ({ prediction: this.prediction, clipRange: this.clipRange } = readPredictionOptions(this.cfg, config));
    this.alphaCumprodAtEnd = this.finalAlphaCumprod();
    this.originalSteps = this.cfg.int('original_inference_steps', 1);
    this.timestepScaling = this.cfg.number('timestep_scaling');
    if (this.originalSteps > this.numTrainTimesteps) {
      throw new InvalidSchedulerConfigError(
        `LCMScheduler: original_inference_steps (${this.originalSteps}) exceeds num_train_timesteps (${this.numTrainTimesteps})`,
      );
    }
  }

  /** `strength` < 1 keeps only the first `int(original_inference_steps * strength)` of LCM's training-time schedule. */
  override setTimesteps(numInferenceSteps: number, opts?: { strength?: number }): void {
    const strength = opts?.strength ?? 1;
    checkStrength(strength);
    this.strength = strength;
    super.setTimesteps(numInferenceSteps);
  }

  protected computeTimesteps(n: number): Float64Array {
    if (n > this.originalSteps) {
      throw new SchedulerUsageError(`LCM takes at most ${this.originalSteps} steps, got ${n}`);
    }
    const k = Math.floor(this.numTrainTimesteps / this.originalSteps);
    const count = Math.trunc(this.originalSteps * this.strength);
    if (Math.floor(count / n) < 1) {
      throw new SchedulerUsageError(`LCM cannot run ${n} steps at strength ${this.strength}: raise the strength or lower the steps`);
    }
    // the distilled schedule k*j - 1 (j = count..1), sampled at evenly spaced indices
    const origin = Float64Array.from({ length: count }, (_, i) => (count - i) * k - 1);
    return linspace(0, count, n, false).map((x) => f64At(origin, Math.floor(x)));
  }

  override img2imgTimesteps(numInferenceSteps: number, strength: number): Img2ImgTimesteps {
    // LatentConsistencyModelImg2ImgPipeline passes strength to set_timesteps instead of slicing
    this.setTimesteps(numInferenceSteps, { strength });
    return { timesteps: this.timesteps.slice(), beginIndex: 0, numInferenceSteps: this.timesteps.length };
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource, out: Float32Array): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    const i = this.currentStepIndex(timestep);
    const t = this.tableIndex(timestep);
    const prevT = i + 1 < this.timesteps.length ? f64At(this.timesteps, i + 1) : t;
    const alphaProd = f64At(this.alphasCumprod, t);
    const alphaProdPrev = prevT >= 0 ? f64At(this.alphasCumprod, prevT) : this.alphaCumprodAtEnd;
    const scaled = t * this.timestepScaling;
    const cSkip = SIGMA_DATA ** 2 / (scaled * scaled + SIGMA_DATA ** 2);
    const cOut = scaled / Math.sqrt(scaled * scaled + SIGMA_DATA ** 2);
    const z = i !== this.numInferenceSteps - 1 ? noise.randn(n) : null;
    const denoised = (this.denoised = sized(this.denoised, n));
    for (let k = 0; k < n; k++) {
      const s = f32At(sample, k);
      const d = cOut * alphaPredictOriginal(this.prediction, f32At(modelOutput, k), s, alphaProd, this.clipRange) + cSkip * s;
      denoised[k] = d;
      out[k] = z === null ? d : Math.sqrt(alphaProdPrev) * d + Math.sqrt(1 - alphaProdPrev) * f32At(z, k);
    }
    this.stepIndex = i + 1;
    return { prevSample: out, predOriginal: denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    return this.addNoiseByAlphas(original, noise, timestep, out);
  }
}
