// UniPC (Zhao et al. 2023) as diffusers' UniPCMultistepScheduler: a multistep predictor
// (UniP) followed, at the next call, by a corrector (UniC) that refines the previous
// prediction with the new model output. Defaults: B(h) = expm1(h) ("bh2"), data
// prediction, order 2, and an order-1 final step.
import { at, f32At, f64At } from '../../checked.js';
import { MultistepBase } from './base.js';
import {
  PREDICTION_TYPES,
  type PredictionType,
  alphaSigmaOf,
  checkSameLength,
  lambdaOf,
  type MultistepSigmaChoices,
  multistepSchedule,
  sized,
  solveLinear,
  trainingSigmas,
} from './common.js';
import { vpPredictOriginal } from './dpm-solver-multistep.js';
import type { NoiseSource, SamplerName, SchedulerConfig, StepResult } from './types.js';

export const UNIPC_CLASS = 'UniPCMultistepScheduler';

/** diffusers' `UniPCMultistepScheduler.__init__` defaults. */
export const UNIPC_DEFAULTS: SchedulerConfig = {
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
  predict_x0: true,
  solver_type: 'bh2',
  lower_order_final: true,
  disable_corrector: [],
  solver_p: null,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  final_sigmas_type: 'zero',
  rescale_betas_zero_snr: false,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
  sigma_min: null,
  sigma_max: null,
  shift_terminal: null,
};

/** What diffusers' constructor rewrites: DPM-Solver's solver types map to "bh2". */
export function normaliseUniPcConfig(config: SchedulerConfig): SchedulerConfig {
  const out = { ...config };
  if (out.solver_type === 'midpoint' || out.solver_type === 'heun' || out.solver_type === 'logrho') out.solver_type = 'bh2';
  return out;
}

export class UniPcScheduler extends MultistepBase {
  private readonly prediction: PredictionType;
  private readonly solverOrder: number;
  private readonly predictX0: boolean;
  private readonly bh2: boolean;
  private readonly disableCorrector: number[];
  private readonly schedule: MultistepSigmaChoices;
  private readonly lowerOrderFinal: boolean;
  /** Converted model outputs (x0, or eps without predict_x0) of the last `solverOrder` steps, oldest first. */
  private history: Float32Array[] = [];
  private lowerOrderNums = 0;
  private thisOrder = 0;
  /** The (corrected) sample the last predictor started from, valid once `hasLastSample`. */
  private lastSample: Float32Array | null = null;
  private hasLastSample = false;
  private converted: Float32Array | null = null;
  private predOriginal: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, UNIPC_CLASS, config, 'rescale_and_clamp');
    const c = this.cfg;
    this.prediction = c.string('prediction_type', PREDICTION_TYPES);
    this.solverOrder = c.int('solver_order', 1);
    this.predictX0 = c.bool('predict_x0');
    this.bh2 = c.string('solver_type', ['bh1', 'bh2']) === 'bh2';
    this.disableCorrector = c.optionalNumberList('disable_corrector') ?? [];
    c.unsupported('thresholding', config.thresholding !== true, 'false');
    c.unsupported('solver_p', config.solver_p === null || config.solver_p === undefined, 'null');
    for (const key of ['use_beta_sigmas', 'use_flow_sigmas', 'use_dynamic_shifting']) {
      c.unsupported(key, config[key] !== true, 'false');
    }
    const karras = c.bool('use_karras_sigmas');
    this.schedule = {
      custom: karras ? 'karras' : c.bool('use_exponential_sigmas') ? 'exponential' : null,
      roundCustomTimesteps: karras,
      sigmaMin: c.optionalNumber('sigma_min'),
      sigmaMax: c.optionalNumber('sigma_max'),
      finalSigma: c.string('final_sigmas_type', ['zero', 'sigma_min']),
      customFinalIsLast: true,
    };
    this.lowerOrderFinal = c.bool('lower_order_final');
  }

  protected computeTimesteps(n: number): Float64Array {
    const { timesteps, sigmas } = multistepSchedule({
      ...this.schedule,
      spacing: this.spacing,
      numTrain: this.numTrainTimesteps,
      lastTimestep: this.numTrainTimesteps,
      n,
      stepsOffset: this.stepsOffset,
      table: trainingSigmas(this.alphasCumprod),
    });
    this.sigmas = sigmas;
    return timesteps;
  }

  protected override resetHistory(): void {
    this.lowerOrderNums = 0;
    this.hasLastSample = false;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _noise: NoiseSource, out: Float32Array): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    const i = this.currentStepIndex(timestep);
    const sigmas = this.requireSigmas();
    if (this.history.length !== this.solverOrder || this.history[0]?.length !== n) {
      this.history = Array.from({ length: this.solverOrder }, () => new Float32Array(n));
    }
    const { alpha, sigma } = alphaSigmaOf(f64At(sigmas, i));
    const converted = (this.converted = sized(this.converted, n));
    const x0 = (this.predOriginal = sized(this.predOriginal, n));
    for (let k = 0; k < n; k++) {
      const s = f32At(sample, k);
      const pred = vpPredictOriginal(this.prediction, f32At(modelOutput, k), s, alpha, sigma);
      x0[k] = pred;
      converted[k] = this.predictX0 ? pred : (s - alpha * pred) / sigma;
    }

    // corrector: refine the sample the previous predictor produced, using this step's output
    const start = (this.lastSample = sized(this.lastSample, n));
    const useCorrector = i > 0 && !this.disableCorrector.includes(i - 1) && this.hasLastSample;
    if (useCorrector) {
      this.update(i - 1, this.thisOrder, start, converted, start, true);
    } else {
      start.set(sample);
    }

    const oldest = this.history.shift() as Float32Array;
    oldest.set(converted);
    this.history.push(oldest);
    const cap = this.lowerOrderFinal ? Math.min(this.solverOrder, this.timesteps.length - i) : this.solverOrder;
    this.thisOrder = Math.min(cap, this.lowerOrderNums + 1);
    this.hasLastSample = true;

    this.update(i, this.thisOrder, start, null, out, false);
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    this.stepIndex = i + 1;
    return { prevSample: out, predOriginal: x0 };
  }

  /**
   * One UniP (predictor) or UniC (corrector) update from step `s0` to `s0 + 1`, where
   * `history`'s last entry is the converted output at `s0` and `x` the sample at `s0`.
   * The corrector also weighs in `modelT`, the new output at `s0 + 1`. `out` may be `x`.
   */
  private update(s0: number, order: number, x: Float32Array, modelT: Float32Array | null, out: Float32Array, corrector: boolean): void {
    const sigmas = this.sigmas as Float64Array;
    const { alpha: alphaT, sigma: sigmaT } = alphaSigmaOf(f64At(sigmas, s0 + 1));
    const { alpha: alphaS0, sigma: sigmaS0 } = alphaSigmaOf(f64At(sigmas, s0));
    const lambdaS0 = lambdaOf(f64At(sigmas, s0));
    const h = lambdaOf(f64At(sigmas, s0 + 1)) - lambdaS0;
    const hist = this.history;
    const m0 = at(hist, hist.length - 1);

    // rk = (lambda(s0 - k) - lambda(s0)) / h for the k = 1..order-1 earlier outputs
    const rks: number[] = [];
    for (let k = 1; k < order; k++) rks.push((lambdaOf(f64At(sigmas, s0 - k)) - lambdaS0) / h);
    rks.push(1);
    const hh = this.predictX0 ? -h : h;
    const hPhi1 = Math.expm1(hh);
    const bH = this.bh2 ? Math.expm1(hh) : hh;
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    const R: number[][] = [];
    const b: number[] = [];
    for (let j = 1; j <= order; j++) {
      R.push(rks.map((r) => r ** (j - 1)));
      b.push((hPhiK * factorial) / bH);
      factorial *= j + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    // weights of D1s[k] = (m_k - m0) / rk, and (corrector) of D1_t = modelT - m0
    let rhos: number[];
    let rhoT = 0;
    if (corrector) {
      rhos = order === 1 ? [0.5] : solveLinear(R, b);
      rhoT = at(rhos, rhos.length - 1);
      rhos = rhos.slice(0, -1);
    } else {
      rhos = order === 2 ? [0.5] : order > 2 ? solveLinear(R.slice(0, -1), b.slice(0, -1)) : [];
    }
    const scaleX = this.predictX0 ? sigmaT / sigmaS0 : alphaT / alphaS0;
    const outer = this.predictX0 ? alphaT : sigmaT;
    const coeffM0 = -outer * hPhi1;
    const coeffRes = -outer * bH;
    const earlier = rks.slice(0, -1).map((rk, k) => ({ m: at(hist, hist.length - 2 - k), w: at(rhos, k) / rk }));
    // without correction terms the B(h) term is left out rather than multiplied by 0:
    // with bh1, B(h) is infinite on a final step to sigma 0 (diffusers gets NaN there)
    const hasResidual = earlier.length > 0 || modelT !== null;
    for (let k = 0; k < out.length; k++) {
      const mk0 = f32At(m0, k);
      let v = scaleX * f32At(x, k) + coeffM0 * mk0;
      if (hasResidual) {
        let res = 0;
        for (const e of earlier) res += e.w * (f32At(e.m, k) - mk0);
        if (modelT !== null) res += rhoT * (f32At(modelT, k) - mk0);
        v += coeffRes * res;
      }
      out[k] = v;
    }
  }
}
