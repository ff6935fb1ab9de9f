// Euler ancestral (k-diffusion's sample_euler_ancestral, eta 1) as diffusers'
// EulerAncestralDiscreteScheduler: an Euler step down to sigma_down, then fresh noise
// of size sigma_up. It draws noise on every step, the last included (scaled by 0 there).
import { f32At, f64At } from '../../checked.js';
import { EulerFamilyBase } from './base.js';
import { checkSameLength, eulerTimesteps, f32, interpAtIndex, sized, trainingSigmas } from './common.js';
import { EulerArithmetic } from './euler.js';
import type { NoiseSource, SamplerName, SchedulerConfig, StepResult } from './types.js';

export const EULER_ANCESTRAL_CLASS = 'EulerAncestralDiscreteScheduler';

/** diffusers' `EulerAncestralDiscreteScheduler.__init__` defaults. */
export const EULER_ANCESTRAL_DEFAULTS: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
};

export class EulerAncestralScheduler extends EulerFamilyBase {
  private readonly prediction: 'epsilon' | 'v_prediction';
  private predOriginal: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, EULER_ANCESTRAL_CLASS, config, 'rescale_and_clamp');
    this.prediction = this.cfg.string('prediction_type', ['epsilon', 'v_prediction']);
  }

  protected computeTimesteps(n: number): Float64Array {
    const timesteps = eulerTimesteps(this.spacing, this.numTrainTimesteps, n, this.stepsOffset);
    const table = trainingSigmas(this.alphasCumprod);
    this.sigmas = Float64Array.from([...timesteps.map((t) => interpAtIndex(t, table)), 0], f32);
    return timesteps;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource, out: Float32Array): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    const i = this.currentStepIndex(timestep);
    const sigmas = this.requireSigmas();
    // float32 scalar math in torch's order (see EulerArithmetic)
    const sigmaFrom = f64At(sigmas, i);
    const sigmaTo = f64At(sigmas, i + 1);
    const toSquared = f32(sigmaTo * sigmaTo);
    const fromSquared = f32(sigmaFrom * sigmaFrom);
    const sigmaUp = f32(Math.sqrt(f32(f32(toSquared * f32(fromSquared - toSquared)) / fromSquared)));
    const sigmaDown = f32(Math.sqrt(f32(toSquared - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigmaFrom);
    const math = new EulerArithmetic(this.prediction, sigmaFrom);
    const z = noise.randn(n);
    const x0 = (this.predOriginal = sized(this.predOriginal, n));
    for (let k = 0; k < n; k++) {
      const s = f32At(sample, k);
      const pred = math.predictOriginal(f32At(modelOutput, k), s);
      x0[k] = pred;
      out[k] = math.eulerStep(s, pred, dt) + f32(f32At(z, k) * sigmaUp);
    }
    this.stepIndex = i + 1;
    return { prevSample: out, predOriginal: x0 };
  }
}
