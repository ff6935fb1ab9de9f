// PNDM (pseudo numerical methods, Liu et al. 2022) as diffusers' PNDMScheduler.
// With skip_prk_steps (Stable Diffusion's setting) it is PLMS: a linear multistep method
// whose schedule repeats the second timestep (N + 1 model calls for N steps); the repeat
// is a Heun-like warm-up that re-steps from the first sample with the average of the
// first two outputs. Without it, the first three steps are Runge-Kutta steps (four model
// calls each, at the step's start, middle and end) before PLMS takes over.
import { at, f32At, f64At } from '../../checked.js';
import { SchedulerBase } from './base.js';
import { arange, checkSameLength, linspace, roundHalfEven, sized } from './common.js';
import { SchedulerUsageError } from './errors.js';
import type { NoiseSource, SamplerName, SchedulerConfig, StepResult } from './types.js';

export const PNDM_CLASS = 'PNDMScheduler';

/** diffusers' `PNDMScheduler.__init__` defaults. */
export const PNDM_DEFAULTS: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  skip_prk_steps: false,
  set_alpha_to_one: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
};

/** Runge-Kutta warm-up steps before PLMS (diffusers' `pndm_order`). */
const PRK_STEPS = 3;

export class PndmScheduler extends SchedulerBase {
  protected readonly hasBeginIndex = false;
  private readonly prediction: 'epsilon' | 'v_prediction';
  private readonly alphaCumprodAtEnd: number;
  private readonly skipPrk: boolean;
  /** The Runge-Kutta part of the schedule (empty with skip_prk_steps). */
  private prkTimesteps = new Float64Array(0);
  /** Model outputs of the last (up to) 4 steps, oldest first. */
  private ets: Float32Array[] = [];
  private spare: Float32Array[] = [];
  private counter = 0;
  /** The sample a warm-up step started from (PLMS's repeat, each Runge-Kutta step). */
  private curSample: Float32Array | null = null;
  /** The Runge-Kutta weighted sum of the current step's model outputs. */
  private rkSum: Float32Array | null = null;
  private predOriginal: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, PNDM_CLASS, config, 'not_an_option');
    this.prediction = this.cfg.string('prediction_type', ['epsilon', 'v_prediction']);
    this.skipPrk = this.cfg.bool('skip_prk_steps');
    this.alphaCumprodAtEnd = this.finalAlphaCumprod();
  }

  protected computeTimesteps(n: number): Float64Array {
    const T = this.numTrainTimesteps;
    let ascending: number[];
    if (this.spacing === 'linspace') {
      ascending = [...linspace(0, T - 1, n).map(roundHalfEven)];
    } else if (this.spacing === 'leading') {
      const ratio = Math.floor(T / n);
      ascending = Array.from({ length: n }, (_, i) => i * ratio + this.stepsOffset);
    } else {
      ascending = [...arange(T, 0, -T / n).map((t) => roundHalfEven(t) - 1)].reverse();
    }
    if (this.skipPrk) {
      // PLMS order: all but the last, the second-to-last again, the last; then descending
      this.prkTimesteps = new Float64Array(0);
      return Float64Array.from([...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)].reverse());
    }
    if (ascending.length < PRK_STEPS + 1) {
      throw new SchedulerUsageError(`PNDM with Runge-Kutta steps (skip_prk_steps false) needs at least 4 steps, got ${n}`);
    }
    // each of the last 4 timesteps with its half step, as t, t-h/2, t-h/2, t-h for the 3 RK steps
    const half = Math.floor(Math.floor(T / n) / 2);
    const withHalves = ascending
      .slice(-(PRK_STEPS + 1))
      .flatMap((t) => [t, t + half])
      .slice(0, -1);
    const prk = withHalves
      .flatMap((t) => [t, t])
      .slice(1, -1)
      .reverse();
    this.prkTimesteps = Float64Array.from(prk);
    return Float64Array.from([...prk, ...ascending.slice(0, -PRK_STEPS).reverse()]);
  }

  protected override resetHistory(): void {
    this.spare.push(...this.ets);
    this.ets = [];
    this.counter = 0;
  }

  private remember(modelOutput: Float32Array): void {
    const n = modelOutput.length;
    let buf = this.ets.length === 4 ? (this.ets.shift() as Float32Array) : this.spare.pop();
    if (buf === undefined || buf.length !== n) buf = new Float32Array(n);
    buf.set(modelOutput);
    this.ets.push(buf);
  }

  private keepCurrentSample(sample: Float32Array): void {
    this.curSample = sized(this.curSample, sample.length);
    this.curSample.set(sample);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _noise: NoiseSource, out: Float32Array): StepResult {
    checkSameLength({ modelOutput, sample, out });
    this.requireTimesteps();
    const result =
      this.counter < this.prkTimesteps.length
        ? this.stepPrk(modelOutput, timestep, sample, out)
        : this.stepPlms(modelOutput, timestep, sample, out);
    this.counter++;
    return result;
  }

  /** One of the 4 stages of a Runge-Kutta step; the last combines them with weights 1/6, 1/3, 1/3, 1/6. */
  private stepPrk(modelOutput: Float32Array, timestep: number, sample: Float32Array, out: Float32Array): StepResult {
    const n = modelOutput.length;
    const stage = this.counter % 4;
    const half = Math.floor(Math.floor(this.numTrainTimesteps / this.numInferenceSteps) / 2);
    const prevT = timestep - (this.counter % 2 === 1 ? 0 : half);
    const t = f64At(this.prkTimesteps, this.counter - stage);
    const sum = (this.rkSum = sized(this.rkSum, n));
    if (stage === 0) {
      sum.fill(0);
      this.remember(modelOutput);
      this.keepCurrentSample(sample);
    }
    const weight = stage === 0 || stage === 3 ? 1 / 6 : 1 / 3;
    // stages 0-2 step with their own output; the last with the weighted sum
    const eps = (k: number) => (stage === 3 ? f32At(sum, k) + weight * f32At(modelOutput, k) : f32At(modelOutput, k));
    this.prevSample(this.curSample as Float32Array, this.tableIndex(t), prevT, eps, out);
    if (stage < 3) for (let k = 0; k < n; k++) sum[k] = f32At(sum, k) + weight * f32At(modelOutput, k);
    return { prevSample: out, predOriginal: this.predOriginal as Float32Array };
  }

  private stepPlms(modelOutput: Float32Array, timestep: number, sample: Float32Array, out: Float32Array): StepResult {
    const stride = Math.floor(this.numTrainTimesteps / this.numInferenceSteps);
    let t = this.tableIndex(timestep);
    let prevT = t - stride;
    if (this.counter !== 1) {
      this.remember(modelOutput);
    } else {
      // the repeated timestep: redo the first step from its starting sample
      prevT = t;
      t = this.tableIndex(t + stride);
    }
    const e = this.ets;
    const count = e.length;
    const warmupFirst = count === 1 && this.counter === 0;
    const warmupSecond = count === 1 && this.counter === 1;
    if (warmupFirst) this.keepCurrentSample(sample);
    /** The model output `stepsBack` steps ago (1: the newest). */
    const back = (stepsBack: number) => at(e, count - stepsBack);
    let eps: (k: number) => number;
    if (warmupFirst) {
      eps = (k) => f32At(modelOutput, k);
    } else if (warmupSecond) {
      const e1 = back(1);
      eps = (k) => (f32At(modelOutput, k) + f32At(e1, k)) / 2;
    } else if (count === 2) {
      const [e1, e2] = [back(1), back(2)];
      eps = (k) => (3 * f32At(e1, k) - f32At(e2, k)) / 2;
    } else if (count === 3) {
      const [e1, e2, e3] = [back(1), back(2), back(3)];
      eps = (k) => (23 * f32At(e1, k) - 16 * f32At(e2, k) + 5 * f32At(e3, k)) / 12;
    } else {
      const [e1, e2, e3, e4] = [back(1), back(2), back(3), back(4)];
      eps = (k) => (55 * f32At(e1, k) - 59 * f32At(e2, k) + 37 * f32At(e3, k) - 9 * f32At(e4, k)) / 24;
    }
    this.prevSample(warmupSecond ? (this.curSample as Float32Array) : sample, t, prevT, eps, out);
    return { prevSample: out, predOriginal: this.predOriginal as Float32Array };
  }

  /** diffusers' `_get_prev_sample` (formula 9 of the PNDM paper) from `from` at t to prevT; also records x0. */
  private prevSample(from: Float32Array, t: number, prevT: number, modelOutput: (k: number) => number, out: Float32Array): void {
    const n = from.length;
    const alphaProd = f64At(this.alphasCumprod, t);
    const alphaProdPrev = prevT >= 0 ? f64At(this.alphasCumprod, prevT) : this.alphaCumprodAtEnd;
    const betaProd = 1 - alphaProd;
    const sampleCoeff = Math.sqrt(alphaProdPrev / alphaProd);
    const denom = alphaProd * Math.sqrt(1 - alphaProdPrev) + Math.sqrt(alphaProd * betaProd * alphaProdPrev);
    const x0 = (this.predOriginal = sized(this.predOriginal, n));
    for (let k = 0; k < n; k++) {
      const s = f32At(from, k);
      const m = modelOutput(k);
      const eps = this.prediction === 'v_prediction' ? Math.sqrt(alphaProd) * m + Math.sqrt(betaProd) * s : m;
      x0[k] = (s - Math.sqrt(betaProd) * eps) / Math.sqrt(alphaProd);
      out[k] = sampleCoeff * s - ((alphaProdPrev - alphaProd) * eps) / denom;
    }
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    return this.addNoiseByAlphas(original, noise, timestep, out);
  }
}
