// Checks the scheduler and img2img vector files (test/vectors/schedulers/*.json,
// img2img/img2img_*.json, img2img/add_noise_*.json; format in test/vectors/README.md)
// against src/pipeline/schedulers. Each file is rebuilt from its scheduler class and
// full config and runs our own trajectory end to end: the model is the README's
// deterministic stand-in f(x, t) = 0.3 x + 0.1 cos(t / 100), fed with our own model
// inputs, and step noise replays the recorded draws. Every timestep, sigma, model input
// and sample must satisfy |ours - theirs| <= 1e-4 + 1e-4 |theirs| (the README's tolerance).
import { at, f32At, f64At } from '../checked.js';
import { createScheduler, samplerForClassName } from '../pipeline/schedulers/registry.js';
import type { NoiseSource, Scheduler, SchedulerConfig, StepOptions } from '../pipeline/schedulers/types.js';
import type { VectorCheckResult } from './index.js';

export const ABS_TOLERANCE = 1e-4;
export const REL_TOLERANCE = 1e-4;

interface StepRecord {
  i: number;
  t: number;
  model_input: number[];
  noise: number[] | null;
  prev_sample: number[];
}

/** The README's stand-in for the UNet (with guidance), bit-exact to torch's float32 evaluation. */
export function fakeModel(x: Float32Array, t: number, out: Float32Array): Float32Array {
  const c = Math.fround(0.1 * Math.cos(t / 100));
  const scale = Math.fround(0.3);
  for (let k = 0; k < x.length; k++) out[k] = Math.fround(scale * f32At(x, k)) + c;
  return out;
}

/** Accumulates comparisons with the stored values; keeps the first failures as text. */
class Comparison {
  maxAbsError = 0;
  /** Largest error as a fraction of what the tolerance allows at that value. */
  maxToleranceUsed = 0;
  compared = 0;
  readonly failures: string[] = [];

  values(label: string, got: ArrayLike<number> | null, want: readonly number[]): void {
    if (got === null || got.length !== want.length) {
      this.failures.push(`${label}: ${got === null ? 'none' : got.length} values, expected ${want.length}`);
      return;
    }
    const gotValues = Array.from(got);
    let firstBad = -1;
    for (const [k, w] of want.entries()) {
      const error = Math.abs(at(gotValues, k) - w);
      const used = error / (ABS_TOLERANCE + REL_TOLERANCE * Math.abs(w));
      if (!(error <= this.maxAbsError)) this.maxAbsError = error;
      if (!(used <= this.maxToleranceUsed)) this.maxToleranceUsed = used;
      if (!(used <= 1) && firstBad < 0) firstBad = k;
    }
    this.compared += want.length;
    if (firstBad >= 0) this.failures.push(`${label}[${firstBad}]: got ${gotValues[firstBad]}, expected ${want[firstBad]}`);
  }

  exact(label: string, got: unknown, want: unknown): void {
    if (got !== want) this.failures.push(`${label}: got ${String(got)}, expected ${String(want)}`);
  }

  fail(message: string): void {
    this.failures.push(message);
  }

  result(): VectorCheckResult {
    const passed = this.failures.length === 0;
    const summary =
      `max |error| ${this.maxAbsError.toExponential(2)} over ${this.compared} values ` +
      `(${(100 * this.maxToleranceUsed).toFixed(1)}% of the tolerance)`;
    return {
      maxAbsError: this.maxAbsError,
      passed,
      detail: passed ? summary : `${summary}; ${this.failures.length} failed: ${this.failures.slice(0, 5).join('; ')}`,
    };
  }
}

/** Replays the noise the reference scheduler consumed in each step, and notices draws that differ. */
class RecordedNoise implements NoiseSource {
  private step = 0;
  private drawn = false;

  constructor(
    private readonly steps: readonly StepRecord[],
    private readonly cmp: Comparison,
  ) {}

  begin(step: number): void {
    this.step = step;
    this.drawn = false;
  }

  randn(n: number): Float32Array {
    const recorded = at(this.steps, this.step).noise;
    if (this.drawn || recorded === null || recorded.length !== n) {
      this.cmp.fail(`step ${this.step}: drew noise(${n}) where the reference drew ${recorded === null ? 'none' : recorded.length}`);
      return new Float32Array(n);
    }
    this.drawn = true;
    return Float32Array.from(recorded);
  }

  end(): void {
    if (!this.drawn && at(this.steps, this.step).noise !== null) this.cmp.fail(`step ${this.step}: drew no noise, the reference did`);
  }
}

function stepOptions(kwargs: Record<string, unknown>): StepOptions {
  const { eta, ...rest } = kwargs;
  if (Object.keys(rest).length > 0) throw new Error(`unsupported step_kwargs ${JSON.stringify(rest)}`);
  return eta === undefined ? {} : { eta: eta as number };
}

/** The denoising loop of the README from `start` over `timesteps`, compared step by step. */
function runTrajectory(
  cmp: Comparison,
  scheduler: Scheduler,
  start: Float32Array,
  timesteps: Float64Array,
  json: Record<string, unknown>,
): void {
  const steps = json.steps as StepRecord[];
  if (timesteps.length !== steps.length) {
    cmp.fail(`${timesteps.length} timesteps to run, the reference ran ${steps.length}`);
    return;
  }
  const opts = stepOptions((json.step_kwargs as Record<string, unknown> | undefined) ?? {});
  const noise = new RecordedNoise(steps, cmp);
  const n = start.length;
  let sample = Float32Array.from(start);
  let next = new Float32Array(n);
  const modelInput = new Float32Array(n);
  const modelOutput = new Float32Array(n);
  for (const [i, step] of steps.entries()) {
    const t = f64At(timesteps, i);
    cmp.values(`step ${i} t`, [t], [step.t]);
    scheduler.scaleModelInput(sample, t, modelInput);
    cmp.values(`step ${i} model_input`, modelInput, step.model_input);
    fakeModel(modelInput, t, modelOutput);
    noise.begin(i);
    scheduler.step(modelOutput, t, sample, noise, next, opts);
    noise.end();
    cmp.values(`step ${i} prev_sample`, next, step.prev_sample);
    [sample, next] = [next, sample];
  }
  cmp.values('final_sample', sample, json.final_sample as number[]);
}

function checkTrajectory(cmp: Comparison, scheduler: Scheduler, json: Record<string, unknown>): void {
  scheduler.setTimesteps(json.num_inference_steps as number);
  cmp.values('timesteps', scheduler.timesteps, json.timesteps as number[]);
  if (json.sigmas !== null) cmp.values('sigmas', scheduler.sigmas, json.sigmas as number[]);
  cmp.values('init_noise_sigma', [scheduler.initNoiseSigma], [json.init_noise_sigma as number]);
  cmp.exact('order', scheduler.order, json.order);
  const sigma = scheduler.initNoiseSigma;
  const start = Float32Array.from(json.initial_noise as number[], (x) => x * sigma);
  cmp.values('initial_sample', start, json.initial_sample as number[]);
  runTrajectory(cmp, scheduler, start, scheduler.timesteps, json);
}

function checkImg2Img(cmp: Comparison, scheduler: Scheduler, json: Record<string, unknown>): void {
  const plan = scheduler.img2imgTimesteps(json.num_inference_steps as number, json.strength as number);
  if (json.scheduler_timesteps_full !== null) {
    cmp.values('scheduler_timesteps_full', scheduler.timesteps, json.scheduler_timesteps_full as number[]);
  }
  cmp.values('timesteps', plan.timesteps, json.timesteps as number[]);
  if (json.sigmas !== null) cmp.values('sigmas', scheduler.sigmas, json.sigmas as number[]);
  cmp.exact('num_inference_steps_effective', plan.numInferenceSteps, json.num_inference_steps_effective);
  cmp.exact('begin_index', scheduler.beginIndex, json.begin_index);
  const latentTimestep = plan.timesteps[0];
  if (latentTimestep === undefined) {
    cmp.fail('img2img left no timesteps to run');
    return;
  }
  const latent = json.latent_timestep as number[];
  cmp.values(
    'latent_timestep',
    latent.map(() => latentTimestep),
    latent,
  );
  const original = Float32Array.from(json.original as number[]);
  const noise = Float32Array.from(json.noise as number[]);
  const noisy = scheduler.addNoise(original, noise, latentTimestep, new Float32Array(original.length));
  cmp.values('noisy', noisy, json.noisy as number[]);
  runTrajectory(cmp, scheduler, noisy, plan.timesteps, json);
}

function checkAddNoise(cmp: Comparison, scheduler: Scheduler, json: Record<string, unknown>): void {
  if (json.num_inference_steps !== null) {
    scheduler.setTimesteps(json.num_inference_steps as number);
    cmp.values('scheduler_timesteps', scheduler.timesteps, json.scheduler_timesteps as number[]);
    if (json.sigmas !== null) cmp.values('sigmas', scheduler.sigmas, json.sigmas as number[]);
  }
  const original = Float32Array.from(json.original as number[]);
  const noise = Float32Array.from(json.noise as number[]);
  const noisy = new Float32Array(original.length);
  const timesteps = json.timesteps as number[];
  const per = original.length / timesteps.length;
  timesteps.forEach((want, b) => {
    // sigma-based classes look the timestep up in their schedule: use our equal value
    const ours =
      scheduler.sigmas === null ? want : (scheduler.timesteps.find((t) => Math.abs(t - want) <= 1e-4 * Math.max(1, want)) ?? want);
    const range = [b * per, (b + 1) * per] as const;
    scheduler.addNoise(original.subarray(...range), noise.subarray(...range), ours, noisy.subarray(...range));
  });
  cmp.values('noisy', noisy, json.noisy as number[]);
}

/**
 * Checks one vector file of test/vectors/schedulers or test/vectors/img2img (the kind
 * is read from its fields). Never throws: errors become a failed result with the reason.
 */
export function checkSchedulerVectorFile(json: Record<string, unknown>): VectorCheckResult {
  const cmp = new Comparison();
  try {
    const className = json.scheduler_class as string;
    const config = json.config as SchedulerConfig;
    const scheduler = createScheduler(samplerForClassName(className, config), config);
    if (scheduler.className !== className) throw new Error(`no sampler reproduces ${className}`);
    if (json.kind === 'add_noise') checkAddNoise(cmp, scheduler, json);
    else if (json.kind === 'img2img') checkImg2Img(cmp, scheduler, json);
    else checkTrajectory(cmp, scheduler, json);
  } catch (error) {
    cmp.fail(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    return { ...cmp.result(), maxAbsError: Infinity };
  }
  return cmp.result();
}
