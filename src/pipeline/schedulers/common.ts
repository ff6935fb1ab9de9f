// Shared pieces of the schedulers: reading scheduler_config.json values, the beta /
// alphas_cumprod tables, sigma tables (Karras, exponential, sigma -> t), and the few
// numpy operations whose exact rounding decides timesteps (round half to even,
// linspace, arange, interp). Tables hold float32 values in Float64Arrays: diffusers
// keeps them in float32 tensors, and using the same constants keeps us within the
// vectors' tolerance while the arithmetic itself runs in float64.
import { at, f64At } from '../../checked.js';
import { InvalidSchedulerConfigError, SchedulerUsageError } from './errors.js';
import type { SchedulerConfig } from './types.js';

export const f32 = Math.fround;

// ---------------------------------------------------------------------------
// Config values

const NON_FINITE = new Map<unknown, number>([
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['NaN', NaN],
]);

/** Typed access to a resolved config; every wrong value gets an exact one-line message. */
export class ConfigReader {
  constructor(
    private readonly config: Readonly<SchedulerConfig>,
    private readonly className: string,
  ) {}

  private fail(key: string, expected: string): never {
    const got = JSON.stringify(this.config[key]) ?? 'nothing';
    throw new InvalidSchedulerConfigError(`${this.className} config: "${key}" must be ${expected}, got ${got}`);
  }

  number(key: string): number {
    const v = this.config[key];
    if (typeof v === 'number') return v;
    return NON_FINITE.get(v) ?? this.fail(key, 'a number');
  }

  optionalNumber(key: string): number | null {
    const v = this.config[key];
    return v === undefined || v === null ? null : this.number(key);
  }

  int(key: string, min: number): number {
    const v = this.config[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(key, `a whole number >= ${min}`);
    return v;
  }

  bool(key: string): boolean {
    const v = this.config[key];
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  string<T extends string>(key: string, allowed: readonly T[]): T {
    const v = this.config[key];
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(key, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
    }
    return v as T;
  }

  optionalNumberList(key: string): number[] | null {
    const v = this.config[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) this.fail(key, 'a list of numbers or null');
    return v;
  }

  /** Rejects an option value we do not implement, naming what is supported. */
  unsupported(key: string, isSupported: boolean, supported: string): void {
    if (!isSupported) this.fail(key, `${supported} (other values are not implemented)`);
  }
}

/** What the model predicts: the noise, v (Salimans & Ho 2022), or the clean sample itself. */
export const PREDICTION_TYPES = ['epsilon', 'v_prediction', 'sample'] as const;
export type PredictionType = (typeof PREDICTION_TYPES)[number];

export const TIMESTEP_SPACINGS = ['leading', 'trailing', 'linspace'] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

// ---------------------------------------------------------------------------
// numpy-exact helpers

/** numpy's `round` (half to even). */
export function roundHalfEven(x: number): number {
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
}

/** `np.linspace(start, stop, num, endpoint)` in float64, element by element as numpy computes it. */
export function linspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = div > 0 ? i * step + start : start;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** `np.arange(start, stop, step)` for floats: numpy fills `start + i * (x1 - x0)`. */
export function arange(start: number, stop: number, step: number): Float64Array {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(n);
  const delta = start + step - start;
  for (let i = 0; i < n; i++) out[i] = i === 1 ? start + step : start + i * delta;
  return out;
}

/** `np.interp(x, arange(len(fp)), fp)`. */
export function interpAtIndex(x: number, fp: Float64Array): number {
  const last = fp.length - 1;
  if (x <= 0) return f64At(fp, 0);
  if (x >= last) return f64At(fp, last);
  const j = Math.floor(x);
  const low = f64At(fp, j);
  return (f64At(fp, j + 1) - low) * (x - j) + low;
}

/** A reversed copy (numpy's `[::-1]`). */
export function reversed(a: Float64Array): Float64Array {
  return a.slice().reverse();
}

// ---------------------------------------------------------------------------
// Beta schedules

export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;

/** `torch.linspace(start, end, steps, dtype=float32)` as the CPU kernel computes it (bit-exact). */
function torchLinspaceF32(start: number, end: number, steps: number): Float64Array {
  const s = f32(start);
  const e = f32(end);
  const step = f32((e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const out = new Float64Array(steps);
  for (let i = 0; i < steps; i++) out[i] = i < halfway ? f32(s + step * i) : f32(e - step * (steps - i - 1));
  return out;
}

/** Glide's cosine schedule (`betas_for_alpha_bar`, max_beta 0.999). */
function cosineBetas(n: number): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
  return out;
}

/** `torch.cumprod(1 - betas)` for float32 (the CPU kernel accumulates in double). */
function cumprodOfAlphas(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - f64At(betas, i));
    out[i] = f32(acc);
  }
  return out;
}

/** `rescale_zero_terminal_snr` (arXiv 2305.08891, Algorithm 1) in float32 steps. */
function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const sqrtAc = cumprodOfAlphas(betas).map((a) => f32(Math.sqrt(a)));
  const first = f64At(sqrtAc, 0);
  const last = f64At(sqrtAc, sqrtAc.length - 1);
  const scale = f32(first / f32(first - last));
  const alphaBar = sqrtAc.map((a) => {
    const v = f32(f32(a - last) * scale);
    return f32(v * v);
  });
  return alphaBar.map((ab, i) => f32(1 - (i === 0 ? ab : f32(ab / f64At(alphaBar, i - 1)))));
}

/** How a class treats `rescale_betas_zero_snr`: PNDM has no such option, the sigma-based classes clamp. */
export type ZeroSnrHandling = 'not_an_option' | 'rescale' | 'rescale_and_clamp';

/**
 * alphas_cumprod of the config's beta schedule (trained_betas, linear, scaled_linear,
 * squaredcos_cap_v2, optionally rescaled to zero terminal SNR). With "rescale_and_clamp"
 * the last value becomes 2^-24 so that sigma stays finite, as the sigma-based classes do.
 */
export function alphasCumprodFromConfig(r: ConfigReader, zeroSnr: ZeroSnrHandling): Float64Array {
  const n = r.int('num_train_timesteps', 1);
  const trained = r.optionalNumberList('trained_betas');
  let betas: Float64Array;
  if (trained !== null) {
    betas = Float64Array.from(trained, (b) => f32(b));
  } else {
    const schedule = r.string('beta_schedule', BETA_SCHEDULES);
    if (schedule === 'linear') {
      betas = torchLinspaceF32(r.number('beta_start'), r.number('beta_end'), n);
    } else if (schedule === 'scaled_linear') {
      betas = torchLinspaceF32(r.number('beta_start') ** 0.5, r.number('beta_end') ** 0.5, n).map((b) => f32(b * b));
    } else {
      betas = cosineBetas(n);
    }
  }
  const rescale = zeroSnr !== 'not_an_option' && r.bool('rescale_betas_zero_snr');
  if (rescale) betas = rescaleZeroTerminalSnr(betas);
  const alphasCumprod = cumprodOfAlphas(betas);
  if (rescale && zeroSnr === 'rescale_and_clamp') alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  return alphasCumprod;
}

// ---------------------------------------------------------------------------
// Sigmas

/** `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` in float32, indexed by training timestep. */
export function trainingSigmas(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** `np.log` of a float32 sigma table (float32 results). */
export function logOf(sigmas: Float64Array): Float64Array {
  return sigmas.map((s) => f32(Math.log(s)));
}

/** Karras et al. (2022) sigmas, rho = 7, from sigmaMax down to sigmaMin. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): Float64Array {
  const rho = 7;
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((ramp) => (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho);
}

/** Exponential sigmas: log-uniform from sigmaMax to sigmaMin. */
export function exponentialSigmas(sigmaMin: number, sigmaMax: number, n: number): Float64Array {
  return linspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
}

/** diffusers' `_sigma_to_t`: the fractional training timestep of `sigma`, interpolated in log space. */
export function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low index = argmax of cumsum(logSigma - logSigmas >= 0), clipped to len - 2
  let count = 0;
  let best = -1;
  let lowIdx = 0;
  for (let i = 0; i < logSigmas.length; i++) {
    if (logSigma - f64At(logSigmas, i) >= 0) count++;
    if (count > best) {
      best = count;
      lowIdx = i;
    }
  }
  lowIdx = Math.min(lowIdx, logSigmas.length - 2);
  const low = f64At(logSigmas, lowIdx);
  const high = f64At(logSigmas, lowIdx + 1);
  const w = Math.min(1, Math.max(0, (low - logSigma) / (low - high)));
  return (1 - w) * lowIdx + w * (lowIdx + 1);
}

/** Variance-preserving alpha_t, sigma_t of a sigma (`_sigma_to_alpha_sigma_t`). */
export function alphaSigmaOf(sigma: number): { alpha: number; sigma: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigma: sigma * alpha };
}

// ---------------------------------------------------------------------------
// Step bookkeeping

/**
 * diffusers' `index_for_timestep`: where `timestep` sits in `schedule`. With duplicates
 * the second match is taken (so img2img starting mid-schedule does not skip a sigma);
 * -1 when absent.
 */
export function indexForTimestep(schedule: Float64Array, timestep: number): number {
  const first = schedule.indexOf(timestep);
  if (first < 0) return -1;
  const second = schedule.indexOf(timestep, first + 1);
  return second < 0 ? first : second;
}

/** Returns `buf` when it has length `n`, else a new buffer: state is allocated once per run size. */
export function sized(buf: Float32Array | null, n: number): Float32Array {
  return buf !== null && buf.length === n ? buf : new Float32Array(n);
}

/** Throws unless all tensors have the same length; returns it. */
export function checkSameLength(what: Record<string, Float32Array>): number {
  const entries = Object.entries(what);
  const n = at(entries, 0)[1].length;
  for (const [name, a] of entries) {
    if (a.length !== n) {
      throw new SchedulerUsageError(`tensor "${name}" has ${a.length} values, expected ${n}`);
    }
  }
  return n;
}

// ---------------------------------------------------------------------------
// Timestep spacings (the three of arXiv 2305.08891, Table 2)

/**
 * The float32 timesteps of Euler / Euler ancestral: "linspace" keeps fractions,
 * "leading" is k * (T // n) + steps_offset, "trailing" is round(arange(T, 0, -T/n)) - 1.
 */
export function eulerTimesteps(spacing: TimestepSpacing, numTrain: number, n: number, stepsOffset: number): Float64Array {
  if (spacing === 'linspace') return reversed(linspace(0, numTrain - 1, n).map(f32));
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / n);
    return Float64Array.from({ length: n }, (_, i) => f32((n - 1 - i) * ratio + stepsOffset));
  }
  return trailingTimesteps(numTrain, numTrain / n).map(f32);
}

/** "trailing": `round(arange(start, 0, -stepRatio)) - 1`. */
export function trailingTimesteps(start: number, stepRatio: number): Float64Array {
  return arange(start, 0, -stepRatio).map((t) => roundHalfEven(t) - 1);
}

/** The integer timesteps of DDIM / DDPM ("linspace" rounds half to even). */
export function integerTimesteps(spacing: TimestepSpacing, numTrain: number, n: number, stepsOffset: number): Float64Array {
  if (spacing === 'linspace') return reversed(linspace(0, numTrain - 1, n).map(roundHalfEven));
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / n);
    return Float64Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
  }
  return trailingTimesteps(numTrain, numTrain / n);
}

/** What `multistepSchedule` needs from a DPM-Solver++ / UniPC config. */
export interface MultistepScheduleOptions {
  spacing: TimestepSpacing;
  numTrain: number;
  /** Timesteps stay below this (DPM-Solver's lambda_min_clipped can lower it). */
  lastTimestep: number;
  n: number;
  stepsOffset: number;
  table: Float64Array;
  /** Karras, exponential, or Lu's uniform-logSNR ("lu", DPM-Solver's use_lu_lambdas) sigmas. */
  custom: 'karras' | 'exponential' | 'lu' | null;
  /** Round custom-sigma timesteps to the nearest integer (else truncate, as an int64 cast does). */
  roundCustomTimesteps: boolean;
  sigmaMin: number | null;
  sigmaMax: number | null;
  finalSigma: 'zero' | 'sigma_min';
  /** With custom sigmas, "sigma_min" repeats their last value (UniPC) instead of the training minimum. */
  customFinalIsLast: boolean;
}

/** The part of the multistep schedule a config decides (read once per scheduler). */
export type MultistepSigmaChoices = Pick<
  MultistepScheduleOptions,
  'custom' | 'roundCustomTimesteps' | 'sigmaMin' | 'sigmaMax' | 'finalSigma' | 'customFinalIsLast'
>;

/**
 * Timesteps and sigmas of the multistep solvers (DPM-Solver++, UniPC). Unlike DDIM,
 * "leading" uses the ratio `lastTimestep // (n + 1)` and drops the zero timestep, and
 * Karras / exponential sigmas span the whole training range (timesteps from sigma -> t).
 */
export function multistepSchedule(a: MultistepScheduleOptions): { timesteps: Float64Array; sigmas: Float64Array } {
  const { n, lastTimestep } = a;
  let timesteps: Float64Array;
  if (a.spacing === 'linspace') {
    timesteps = reversed(linspace(0, lastTimestep - 1, n + 1).map(roundHalfEven)).slice(0, n);
  } else if (a.spacing === 'leading') {
    const ratio = Math.floor(lastTimestep / (n + 1));
    timesteps = Float64Array.from({ length: n }, (_, i) => (n - i) * ratio + a.stepsOffset);
  } else {
    timesteps = trailingTimesteps(lastTimestep, a.numTrain / n);
  }
  let sigmas: Float64Array;
  if (a.custom !== null) {
    const logSigmas = logOf(a.table);
    if (a.custom === 'lu') {
      const [logMax, logMin] = [f64At(logSigmas, logSigmas.length - 1), f64At(logSigmas, 0)];
      sigmas = linspace(0, 1, n).map((ramp) => Math.exp(logMax + ramp * (logMin - logMax)));
    } else {
      const sigmaMin = a.sigmaMin ?? f64At(a.table, 0);
      const sigmaMax = a.sigmaMax ?? f64At(a.table, a.table.length - 1);
      sigmas = (a.custom === 'karras' ? karrasSigmas : exponentialSigmas)(sigmaMin, sigmaMax, n);
    }
    timesteps = sigmas.map((s) => {
      const t = sigmaToT(s, logSigmas);
      return a.roundCustomTimesteps ? roundHalfEven(t) : Math.trunc(t);
    });
  } else {
    sigmas = timesteps.map((t) => interpAtIndex(t, a.table));
  }
  const last =
    a.finalSigma === 'zero' ? 0 : a.custom !== null && a.customFinalIsLast ? f64At(sigmas, sigmas.length - 1) : f64At(a.table, 0);
  return { timesteps, sigmas: Float64Array.from([...sigmas, last], f32) };
}

/** Solves the small dense system `m x = b` (Gaussian elimination with partial pivoting). */
export function solveLinear(m: number[][], b: number[]): number[] {
  const n = b.length;
  const rows = m.map((row, i) => [...row.slice(0, n), at(b, i)]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(at(at(rows, r), col)) > Math.abs(at(at(rows, pivot), col))) pivot = r;
    const pivotRow = at(rows, pivot);
    rows[pivot] = at(rows, col);
    rows[col] = pivotRow;
    for (const row of rows.slice(col + 1, n)) {
      const f = at(row, col) / at(pivotRow, col);
      for (let c = col; c <= n; c++) row[c] = at(row, c) - f * at(pivotRow, c);
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    const row = at(rows, r);
    let acc = at(row, n);
    for (let c = r + 1; c < n; c++) acc -= at(row, c) * at(x, c);
    x[r] = acc / at(row, r);
  }
  return x;
}

/** `log(alpha_t) - log(sigma_t)` of a VP sigma: the half log-SNR that DPM-Solver and UniPC step in. */
export function lambdaOf(sigma: number): number {
  const { alpha, sigma: s } = alphaSigmaOf(sigma);
  return Math.log(alpha) - Math.log(s);
}
