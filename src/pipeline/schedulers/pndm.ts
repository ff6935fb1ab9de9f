// PLMS (pseudo linear multistep, Liu et al. 2022) as diffusers' PNDMScheduler with
// skip_prk_steps, the sampler Stable Diffusion 1.x ships with. Its schedule repeats the
// second timestep (N + 1 model calls for N steps): the repeat is a Heun-like warm-up
// that re-steps from the first sample with the average of the first two outputs.
import { SchedulerBase } from './base.js';
import { arange, checkSameLength, linspace, roundHalfEven, sized } from './common.js';
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

export class PndmScheduler extends SchedulerBase {
  protected readonly hasBeginIndex = false;
  private readonly prediction: 'epsilon' | 'v_prediction';
  private readonly alphaCumprodAtEnd: number;
  /** Model outputs of the last (up to) 4 steps, oldest first. */
  private ets: Float32Array[] = [];
  private spare: Float32Array[] = [];
  private counter = 0;
  private curSample: Float32Array | null = null;
  private predOriginal: Float32Array | null = null;

  constructor(name: SamplerName, config: Readonly<SchedulerConfig>) {
    super(name, PNDM_CLASS, config, 'not_an_option');
    this.prediction = this.cfg.string('prediction_type', ['epsilon', 'v_prediction']);
    this.cfg.unsupported('skip_prk_steps', this.config.skip_prk_steps === true, 'true');
    this.alphaCumprodAtEnd = this.finalAlphaCumprod();
  }

  protected computeTimesteps(n: number): Float64Array {
    const T = this.numTrainTimesteps;
    let ascending: Float64Array;
    if (this.spacing === 'linspace') {
      ascending = linspace(0, T - 1, n).map(roundHalfEven);
    } else if (this.spacing === 'leading') {
      const ratio = Math.floor(T / n);
      const offset = this.stepsOffset;
      ascending = Float64Array.from({ length: n }, (_, i) => i * ratio + offset);
    } else {
      ascending = arange(T, 0, -T / n).map((t) => roundHalfEven(t) - 1).reverse();
    }
    // PLMS order: all but the last, the second-to-last again, the last; then descending
    const plms = [...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)];
    return Float64Array.from(plms.reverse());
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

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _noise: NoiseSource, out: Float32Array): StepResult {
    const n = checkSameLength({ modelOutput, sample, out });
    this.requireTimesteps();
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
    if (warmupFirst) {
      this.curSample = sized(this.curSample, n);
      this.curSample.set(sample);
    }
    const from = warmupSecond ? (this.curSample as Float32Array) : sample;

    const alphaProd = this.alphasCumprod[t];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.alphaCumprodAtEnd;
    const betaProd = 1 - alphaProd;
    const betaProdPrev = 1 - alphaProdPrev;
    const sampleCoeff = Math.sqrt(alphaProdPrev / alphaProd);
    const denom = alphaProd * Math.sqrt(betaProdPrev) + Math.sqrt(alphaProd * betaProd * alphaProdPrev);
    const x0 = (this.predOriginal = sized(this.predOriginal, n));
    const [e1, e2, e3, e4] = [e[count - 1], e[count - 2], e[count - 3], e[count - 4]];
    for (let k = 0; k < n; k++) {
      let m: number;
      if (warmupFirst) m = modelOutput[k];
      else if (warmupSecond) m = (modelOutput[k] + e1[k]) / 2;
      else if (count === 2) m = (3 * e1[k] - e2[k]) / 2;
      else if (count === 3) m = (23 * e1[k] - 16 * e2[k] + 5 * e3[k]) / 12;
      else m = (55 * e1[k] - 59 * e2[k] + 37 * e3[k] - 9 * e4[k]) / 24;
      const s = from[k];
      const eps = this.prediction === 'v_prediction' ? Math.sqrt(alphaProd) * m + Math.sqrt(betaProd) * s : m;
      x0[k] = (s - Math.sqrt(betaProd) * eps) / Math.sqrt(alphaProd);
      out[k] = sampleCoeff * s - ((alphaProdPrev - alphaProd) * eps) / denom;
    }
    this.counter++;
    return { prevSample: out, predOriginal: x0 };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number, out: Float32Array): Float32Array {
    return this.addNoiseByAlphas(original, noise, timestep, out);
  }
}
