// DPM-Solver++ (Lu et al. 2022) multistep, ODE and SDE variants, as diffusers'
// DPMSolverMultistepScheduler: "DPM++ 2M" (and "2M Karras" with Karras sigmas).
// Each step is a linear combination of the sample, the last `order` data predictions
// (x0) and, for the SDE variant, fresh noise; the coefficients come from the half
// log-SNR lambda of the two sigmas.
import { at, f32At, f64At } from '../../checked.js';
import { MultistepBase } from './base.js';
import {
  PREDICTION_TYPES,
  type PredictionType,
  alphaSigmaOf,
  checkSameLength,
  f32,
  lambdaOf,
  type MultistepSigmaChoices,
  multistepSchedule,
  trainingSigmas,
} from './common.js';
import type { NoiseSource, SamplerName, SchedulerConfig, StepResult } from './types.js';

export const DPM_CLASS = 'DPMSolverMultistepScheduler';

/** diffusers' `DPMSolverMultistepScheduler.__init__` defaults. */
export const DPM_DEFAULTS: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  final_sigmas_type: 'zero',
  lambda_min_clipped: '-Infinity',
  variance_type: null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
};

/** What diffusers' constructor rewrites: UniPC / DEIS names map to DPM-Solver's own. */
export function normaliseDpmConfig(config: SchedulerConfig): SchedulerConfig {
  const out = { ...config };
  if (out.algorithm_type === 'deis') out.algorithm_type = 'dpmsolver++';
  if (out.solver_type === 'logrho' || out.solver_type === 'bh1' || out.solver_type === 'bh2') out.solver_type = 'midpoint';
  return out;
}

/** x0 of a model output at sigma (VP parameterisation: x = alpha x0 + sigma_t eps). */
export function vpPredictOriginal(prediction: PredictionType, modelOutput: number, sample: number, alphaT: number, sigmaT: number): number {
  if (prediction === 'epsilon') return (sample - sigmaT * modelOutput) / alphaT;
  if (prediction === 'v_prediction') return alphaT * sample - sigmaT * modelOutput;
  return modelOutput;
}

export class DpmSolverMultistepScheduler extends MultistepBase {
  private readonly prediction: PredictionType;
  private readonly solverOrder: number;
  private readonly sde: boolean;
  private readonly heun: boolean;
  private readonly schedule: MultistepSigmaChoices;
  private readonly minLambda: number;
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  /** x0 predictions of the last `solverOrder` steps, oldest first. */
  private history: Float32Array[] = [];
  private lowerOrderNums = 0;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, DPM_CLASS, config, 'rescale_and_clamp');
    const c = this.cfg;
    this.prediction = c.string('prediction_type', PREDICTION_TYPES);
    this.solverOrder = c.int('solver_order', 1);
    c.unsupported('solver_order', this.solverOrder <= 3, '1, 2 or 3');
    const algorithm = c.string('algorithm_type', ['dpmsolver++', 'sde-dpmsolver++']);
    this.sde = algorithm === 'sde-dpmsolver++';
    c.unsupported('solver_order', !(this.sde && this.solverOrder === 3), '1 or 2 with sde-dpmsolver++');
    this.heun = c.string('solver_type', ['midpoint', 'heun']) === 'heun';
    c.unsupported('thresholding', config.thresholding !== true, 'false');
    // only learned variances change DPM-Solver (the model output carries them); other values come from DDPM configs
    c.unsupported(
      'variance_type',
      config.variance_type !== 'learned' && config.variance_type !== 'learned_range',
      'anything but "learned" / "learned_range"',
    );
    for (const key of ['use_beta_sigmas', 'use_flow_sigmas', 'use_dynamic_shifting']) {
      c.unsupported(key, config[key] !== true, 'false');
    }
    const karras = c.bool('use_karras_sigmas');
    const lu = c.bool('use_lu_lambdas');
    this.schedule = {
      custom: karras ? 'karras' : lu ? 'lu' : c.bool('use_exponential_sigmas') ? 'exponential' : null,
      // diffusers rounds Karras / Lu timesteps except for the cosine schedule (then an int64 cast truncates)
      roundCustomTimesteps: (karras || lu) && config.beta_schedule !== 'squaredcos_cap_v2',
      sigmaMin: c.optionalNumber('sigma_min'),
      sigmaMax: c.optionalNumber('sigma_max'),
      finalSigma: c.string('final_sigmas_type', ['zero', 'sigma_min']),
      customFinalIsLast: false,
    };
    this.minLambda = c.number('lambda_min_clipped');
    this.lowerOrderFinal = c.bool('lower_order_final');
    this.eulerAtFinal = c.bool('euler_at_final');
  }

  protected computeTimesteps(n: number): Float64Array {
    // lambda_min_clipped: skip the training timesteps whose lambda (float32) is below the clip
    let clipped = 0;
    for (const a of this.alphasCumprod) {
      const lambda = f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a))))));
      if (lambda < this.minLambda) clipped++;
    }
    const { timesteps, sigmas } = multistepSchedule({
      ...this.schedule,
      spacing: this.spacing,
      numTrain: this.numTrainTimesteps,
      lastTimestep: this.numTrainTimesteps - clipped,
      n,
      stepsOffset: this.stepsOffset,
      table: trainingSigmas(this.alphasCumprod),
    });
    this.sigmas = sigmas;
    return timesteps;
  }

  protected override resetHistory(): void {
    this.lowerOrderNums = 0;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource, out: Float32Array): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    const i = this.currentStepIndex(timestep);
    const sigmas = this.requireSigmas();
    const numSteps = this.timesteps.length;
    // lower orders at the end: always into sigma 0, and for short runs (< 15 steps) when lower_order_final
    const lowerOrderFinal =
      i === numSteps - 1 && (this.eulerAtFinal || (this.lowerOrderFinal && numSteps < 15) || this.schedule.finalSigma === 'zero');
    const lowerOrderSecond = i === numSteps - 2 && this.lowerOrderFinal && numSteps < 15;
    const order =
      this.solverOrder === 1 || this.lowerOrderNums < 1 || lowerOrderFinal
        ? 1
        : this.solverOrder === 2 || this.lowerOrderNums < 2 || lowerOrderSecond
          ? 2
          : 3;

    // rotate the history; the oldest buffer receives this step's x0
    if (this.history.length !== this.solverOrder || this.history[0]?.length !== n) {
      this.history = Array.from({ length: this.solverOrder }, () => new Float32Array(n));
    }
    const x0 = this.history.shift() as Float32Array;
    this.history.push(x0);
    const { alpha: alphaS0, sigma: sigmaS0 } = alphaSigmaOf(f64At(sigmas, i));
    for (let k = 0; k < n; k++) {
      x0[k] = vpPredictOriginal(this.prediction, f32At(modelOutput, k), f32At(sample, k), alphaS0, sigmaS0);
    }

    const c = this.coefficients(i, order);
    const z = this.sde ? noise.randn(n) : null;
    // x0 of this step (m0) and, as the order needs them, of the one (m1) and two (m2) before
    const m1 = order >= 2 ? at(this.history, this.solverOrder - 2) : null;
    const m2 = order === 3 ? at(this.history, this.solverOrder - 3) : null;
    for (let k = 0; k < n; k++) {
      let v = c.sample * f32At(sample, k) + c.m0 * f32At(x0, k);
      if (m1 !== null) v += c.m1 * f32At(m1, k);
      if (m2 !== null) v += c.m2 * f32At(m2, k);
      if (z !== null) v += c.noise * f32At(z, k);
      out[k] = v;
    }
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    this.stepIndex = i + 1;
    return { prevSample: out, predOriginal: x0 };
  }

  /** The update as `sample * a + m0 * b + m1 * c + m2 * d + noise * e` (m0 = this step's x0). */
  private coefficients(i: number, order: number): { sample: number; m0: number; m1: number; m2: number; noise: number } {
    const sigmas = this.sigmas as Float64Array;
    const { alpha: alphaT, sigma: sigmaT } = alphaSigmaOf(f64At(sigmas, i + 1));
    const { sigma: sigmaS0 } = alphaSigmaOf(f64At(sigmas, i));
    const lambdaT = lambdaOf(f64At(sigmas, i + 1));
    const lambdaS0 = lambdaOf(f64At(sigmas, i));
    const h = lambdaT - lambdaS0;
    const expMinusH = Math.exp(-h);
    if (this.sde) {
      const oneMinusE2h = 1 - Math.exp(-2 * h);
      const base = {
        sample: (sigmaT / sigmaS0) * expMinusH,
        m0: alphaT * oneMinusE2h,
        m1: 0,
        m2: 0,
        noise: sigmaT * Math.sqrt(oneMinusE2h),
      };
      if (order === 1) return base;
      const r0 = (lambdaS0 - lambdaOf(f64At(sigmas, i - 1))) / h;
      // D1 = (m0 - m1) / r0
      const d1 = this.heun ? alphaT * (oneMinusE2h / (-2 * h) + 1) : 0.5 * alphaT * oneMinusE2h;
      return { ...base, m0: base.m0 + d1 / r0, m1: -d1 / r0 };
    }
    const phi = alphaT * (expMinusH - 1);
    const base = { sample: sigmaT / sigmaS0, m0: -phi, m1: 0, m2: 0, noise: 0 };
    if (order === 1) return base;
    const lambdaS1 = lambdaOf(f64At(sigmas, i - 1));
    const r0 = (lambdaS0 - lambdaS1) / h;
    if (order === 2) {
      const d1 = this.heun ? alphaT * ((expMinusH - 1) / h + 1) : -0.5 * phi;
      return { ...base, m0: base.m0 + d1 / r0, m1: -d1 / r0 };
    }
    const r1 = (lambdaS1 - lambdaOf(f64At(sigmas, i - 2))) / h;
    // D1 = u + q (u - v), D2 = (u - v) / (r0 + r1) with u = (m0 - m1) / r0, v = (m1 - m2) / r1
    const cD1 = alphaT * ((expMinusH - 1) / h + 1);
    const cD2 = -alphaT * ((expMinusH - 1 + h) / (h * h) - 0.5);
    const q = r0 / (r0 + r1);
    const cu = cD1 * (1 + q) + cD2 / (r0 + r1);
    const cv = -cD1 * q - cD2 / (r0 + r1);
    return { ...base, m0: base.m0 + cu / r0, m1: -cu / r0 + cv / r1, m2: -cv / r1 };
  }
}
