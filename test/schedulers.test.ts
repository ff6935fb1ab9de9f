import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { at, f32At, f64At } from '../src/checked.js';
import { createGenerator } from '../src/pipeline/rng/index.js';
import { InvalidSchedulerConfigError, SchedulerUsageError } from '../src/pipeline/schedulers/errors.js';
import { SAMPLERS } from '../src/contract/index.js';
import { UnknownSamplerError, createScheduler, samplerForClassName } from '../src/pipeline/schedulers/registry.js';
import type { SamplerName, Scheduler, SchedulerConfig } from '../src/pipeline/schedulers/types.js';
import { checkSchedulerVectorFile, fakeModel } from '../src/vectors/schedulers.js';

const VECTORS = fileURLToPath(new URL('./vectors/', import.meta.url));

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** The SD 1.5 scheduler_config.json (a PNDMScheduler), as the README's `sd15` base. */
const SD15: SchedulerConfig = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000,
  steps_offset: 1,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  trained_betas: null,
  clip_sample: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
};

/** SD-Turbo's EulerDiscreteScheduler config (trailing spacing). */
const SD_TURBO: SchedulerConfig = {
  ...SD15,
  _class_name: 'EulerDiscreteScheduler',
  timestep_spacing: 'trailing',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  timestep_type: 'discrete',
  sigma_min: null,
  sigma_max: null,
};

const SHAPE_SIZE = 2 * 4 * 3 * 5;

/** Runs the README's fake-model loop; returns every prev_sample. */
function trajectory(scheduler: Scheduler, steps: number, opts: { inPlace?: boolean; seed?: number } = {}): Float32Array[] {
  scheduler.setTimesteps(steps);
  const start = createGenerator('torch', opts.seed ?? 7).randn(SHAPE_SIZE);
  return runFrom(
    scheduler,
    start.map((x) => x * scheduler.initNoiseSigma),
    scheduler.timesteps,
    opts,
  );
}

function runFrom(
  scheduler: Scheduler,
  start: Float32Array,
  timesteps: Float64Array,
  opts: { inPlace?: boolean; seed?: number } = {},
): Float32Array[] {
  const noise = createGenerator('torch', (opts.seed ?? 7) + 100000);
  let sample = Float32Array.from(start);
  let next = opts.inPlace ? sample : new Float32Array(sample.length);
  const modelInput = new Float32Array(sample.length);
  const modelOutput = new Float32Array(sample.length);
  const samples: Float32Array[] = [];
  for (const t of timesteps) {
    scheduler.scaleModelInput(sample, t, modelInput);
    fakeModel(modelInput, t, modelOutput);
    scheduler.step(modelOutput, t, sample, noise, next);
    samples.push(next.slice());
    if (!opts.inPlace) [sample, next] = [next, sample];
  }
  return samples;
}

function vectorFiles(dir: string): string[] {
  return readdirSync(`${VECTORS}${dir}`)
    .filter((f) => f.endsWith('.json') && f !== 'index.json')
    .sort()
    .map((f) => `${dir}/${f}`);
}

describe('shared scheduler and img2img vectors', () => {
  for (const file of [...vectorFiles('schedulers'), ...vectorFiles('img2img')]) {
    it(file, () => {
      const result = checkSchedulerVectorFile(readJson(`${VECTORS}${file}`));
      expect(result.passed, result.detail).toBe(true);
      expect(result.maxAbsError).toBeLessThan(1e-4);
    });
  }

  it('fails a file whose numbers are off', () => {
    const json = readJson(`${VECTORS}schedulers/euler_sd15_n4.json`);
    const steps = json.steps as { prev_sample: number[] }[];
    const changed = at(steps, 2).prev_sample;
    changed[5] = at(changed, 5) + 0.01;
    const result = checkSchedulerVectorFile(json);
    expect(result.passed).toBe(false);
    expect(result.detail).toContain('step 2 prev_sample[5]');
  });

  it('fails a file whose recorded noise the sampler would not draw', () => {
    const json = readJson(`${VECTORS}schedulers/euler_sd15_n4.json`);
    at(json.steps as { noise: number[] | null }[], 1).noise = new Array<number>(SHAPE_SIZE).fill(0);
    const result = checkSchedulerVectorFile(json);
    expect(result.passed).toBe(false);
    expect(result.detail).toContain('step 1: drew no noise, the reference did');
  });
});

describe('registry', () => {
  it('rejects an unknown sampler, listing the valid names', () => {
    expect(() => createScheduler('k_lms', SD15)).toThrow(UnknownSamplerError);
    expect(() => createScheduler('k_lms', SD15)).toThrow(
      'Unknown sampler "k_lms". Valid samplers: euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, lcm, pndm, ddpm, unipc.',
    );
    expect(Object.isFrozen(SAMPLERS)).toBe(true);
  });

  it('rejects config values of the wrong type with the key and value', () => {
    expect(() => createScheduler('euler', { ...SD15, beta_schedule: 'cubic' })).toThrow(
      new InvalidSchedulerConfigError(
        'EulerDiscreteScheduler config: "beta_schedule" must be one of "linear", "scaled_linear", "squaredcos_cap_v2", got "cubic"',
      ),
    );
    expect(() => createScheduler('ddim', { ...SD15, steps_offset: 0.5 })).toThrow('"steps_offset" must be a whole number >= 0');
    expect(() => createScheduler('ddim', { ...SD15, thresholding: true })).toThrow(InvalidSchedulerConfigError);
  });

  it('rejects a step count outside 1..num_train_timesteps and stepping before setTimesteps', () => {
    const scheduler = createScheduler('ddim', SD15);
    expect(() => scheduler.setTimesteps(0)).toThrow(SchedulerUsageError);
    expect(() => scheduler.setTimesteps(1001)).toThrow('number of steps must be a whole number from 1 to 1000, got 1001');
    const x = new Float32Array(4);
    expect(() => scheduler.step(x, 1, x, createGenerator('torch', 0), x)).toThrow('call setTimesteps before stepping');
    scheduler.setTimesteps(4);
    expect(() => scheduler.step(x, 751, x, createGenerator('torch', 0), new Float32Array(5))).toThrow(
      'tensor "out" has 5 values, expected 4',
    );
    expect(() => scheduler.img2imgTimesteps(4, 0)).toThrow('img2img strength must be above 0 and at most 1, got 0');
  });

  it('resolves the SD 1.5 base to the full config diffusers writes for each class', () => {
    const files: Record<SamplerName, string> = {
      euler: 'euler_sd15_n4',
      euler_a: 'euler_a_sd15_n4',
      ddim: 'ddim_sd15_n4',
      dpmpp_2m: 'dpmpp2m_sd15_n4',
      dpmpp_2m_karras: 'dpmpp2m_sd15_karras_n4',
      lcm: 'lcm_sd15_n4',
      pndm: 'pndm_sd15_n4',
      ddpm: 'ddpm_sd15_n4',
      unipc: 'unipc_sd15_n4',
    };
    for (const sampler of SAMPLERS) {
      const { _diffusers_version: _a, ...want } = readJson(`${VECTORS}schedulers/${files[sampler]}.json`).config as SchedulerConfig;
      const { _diffusers_version: _b, ...got } = createScheduler(sampler, SD15).config;
      expect(got, sampler).toEqual(want);
    }
  });

  it('maps diffusers class names to samplers', () => {
    expect(samplerForClassName('PNDMScheduler')).toBe('pndm');
    expect(samplerForClassName('EulerAncestralDiscreteScheduler')).toBe('euler_a');
    expect(samplerForClassName('DPMSolverMultistepScheduler', { use_karras_sigmas: true })).toBe('dpmpp_2m_karras');
    expect(samplerForClassName('DPMSolverMultistepScheduler')).toBe('dpmpp_2m');
    expect(samplerForClassName('LMSDiscreteScheduler')).toBe('euler');
  });

  it("accepts another class's variance_type as diffusers does", () => {
    const dpmBase = { ...SD15, _class_name: 'DPMSolverMultistepScheduler', variance_type: null };
    expect(trajectory(createScheduler('ddpm', dpmBase), 3)).toEqual(trajectory(createScheduler('ddpm', SD15), 3));
    const ddpmBase = { ...SD15, _class_name: 'DDPMScheduler', variance_type: 'fixed_small' };
    expect(trajectory(createScheduler('dpmpp_2m', ddpmBase), 3)).toEqual(trajectory(createScheduler('dpmpp_2m', SD15), 3));
    expect(() => createScheduler('dpmpp_2m', { ...ddpmBase, variance_type: 'learned_range' })).toThrow(
      'DPMSolverMultistepScheduler config: "variance_type" must be anything but "learned" / "learned_range" (other values are not implemented), got "learned_range"',
    );
  });

  it("translates another class's solver_type as diffusers' constructors do", () => {
    const unipcBase = { ...SD15, _class_name: 'UniPCMultistepScheduler', solver_type: 'bh2' };
    expect(createScheduler('dpmpp_2m', unipcBase).config.solver_type).toBe('midpoint');
    expect(createScheduler('unipc', { ...SD15, solver_type: 'midpoint' }).config.solver_type).toBe('bh2');
  });
});

describe('config round trip', () => {
  for (const sampler of SAMPLERS) {
    it(`${sampler}: rebuilding from scheduler.config (through JSON) gives identical steps`, () => {
      const first = createScheduler(sampler, SD15);
      const rebuilt = createScheduler(sampler, JSON.parse(JSON.stringify(first.config)) as SchedulerConfig);
      expect(rebuilt.config).toEqual(first.config);
      expect(trajectory(rebuilt, 6)).toEqual(trajectory(first, 6));
    });
  }
});

describe('in-place stepping', () => {
  for (const sampler of SAMPLERS) {
    it(`${sampler}: out === sample gives the same samples as a separate out`, () => {
      const separate = trajectory(createScheduler(sampler, SD15), 5);
      const inPlace = trajectory(createScheduler(sampler, SD15), 5, { inPlace: true });
      expect(inPlace).toEqual(separate);
    });
  }
});

describe('v_prediction', () => {
  const table = readJson(`${VECTORS}schedulers/tables/scaled_linear_0.00085_0.012_T1000.json`).alphas_cumprod as number[];

  for (const sampler of SAMPLERS) {
    it(`${sampler}: a v model and the equivalent epsilon model take the same step and predict the same x0`, () => {
      const rng = createGenerator('torch', 3);
      const x0 = rng.randn(SHAPE_SIZE);
      const eps = rng.randn(SHAPE_SIZE);
      const results = (['epsilon', 'v_prediction'] as const).map((prediction) => {
        const scheduler = createScheduler(sampler, { ...SD15, prediction_type: prediction });
        scheduler.setTimesteps(10);
        const t = f64At(scheduler.timesteps, 0);
        // x_t = alpha x0 + sigma eps, in the scheduler's own scaling
        const sigma = scheduler.sigmas === null ? null : f64At(scheduler.sigmas, 0);
        const alpha = sigma === null ? Math.sqrt(at(table, t)) : 1 / Math.sqrt(sigma * sigma + 1);
        const sigmaT = Math.sqrt(1 - alpha * alpha);
        const eulerScaled = sampler === 'euler' || sampler === 'euler_a';
        const sample = x0.map((x, k) => (alpha * x + sigmaT * f32At(eps, k)) / (eulerScaled ? alpha : 1));
        const output = prediction === 'epsilon' ? eps : eps.map((e, k) => alpha * e - sigmaT * f32At(x0, k));
        const step = scheduler.step(output, t, sample, createGenerator('torch', 9), new Float32Array(SHAPE_SIZE));
        return { prev: step.prevSample, x0: step.predOriginal };
      });
      const [epsilon, v] = [at(results, 0), at(results, 1)];
      for (let k = 0; k < SHAPE_SIZE; k++) expect(v.prev[k]).toBeCloseTo(f32At(epsilon.prev, k), 4);
      if (sampler !== 'lcm') {
        // LCM reports its denoised sample (c_skip / c_out mix), not x0
        for (let k = 0; k < SHAPE_SIZE; k++) {
          expect(v.x0?.[k]).toBeCloseTo(f32At(x0, k), 4);
          expect(epsilon.x0?.[k]).toBeCloseTo(f32At(x0, k), 4);
        }
      }
    });
  }
});

describe('every sampler from real model configs', () => {
  const bases: [string, SchedulerConfig][] = [
    ['SD 1.5 (PNDM, leading)', SD15],
    ['SD-Turbo (Euler, trailing)', SD_TURBO],
  ];
  for (const [label, base] of bases) {
    for (const sampler of SAMPLERS) {
      it(`${sampler} from ${label}: txt2img and img2img run to a finite sample`, () => {
        const scheduler = createScheduler(sampler, base);
        expect(scheduler.config.timestep_spacing).toBe(base.timestep_spacing);
        const samples = trajectory(scheduler, 4);
        expect(samples.length).toBe(sampler === 'pndm' ? 5 : 4);
        if (base === SD_TURBO) expect(scheduler.timesteps[0]).toBe(999);
        for (const s of samples) expect(s.every(Number.isFinite)).toBe(true);

        const plan = scheduler.img2imgTimesteps(4, 0.5);
        expect(plan.numInferenceSteps).toBe(sampler === 'lcm' ? 4 : 2);
        const rng = createGenerator('torch', 11);
        const original = rng.randn(SHAPE_SIZE);
        const noisy = scheduler.addNoise(original, rng.randn(SHAPE_SIZE), f64At(plan.timesteps, 0), new Float32Array(SHAPE_SIZE));
        const img2img = runFrom(scheduler, noisy, plan.timesteps);
        expect(img2img.at(-1)?.every(Number.isFinite)).toBe(true);
      });
    }
  }

  it('PNDM without skip_prk_steps runs 3 Runge-Kutta steps (4 calls each) before PLMS', () => {
    const scheduler = createScheduler('pndm', { ...SD15, skip_prk_steps: false });
    scheduler.setTimesteps(10);
    expect([...scheduler.timesteps]).toEqual([901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1]);
    expect(() => scheduler.setTimesteps(3)).toThrow('needs at least 4 steps, got 3');
  });

  it('SD-Turbo: one Euler step from t = 999', () => {
    const scheduler = createScheduler('euler', SD_TURBO);
    scheduler.setTimesteps(1);
    expect([...scheduler.timesteps]).toEqual([999]);
    expect(scheduler.initNoiseSigma).toBeCloseTo(14.6146, 4);
  });
});

describe('options without reference vectors still run', () => {
  const variants: [SamplerName, SchedulerConfig][] = [
    ['dpmpp_2m', { solver_order: 3 }],
    ['dpmpp_2m', { solver_type: 'heun' }],
    ['dpmpp_2m', { euler_at_final: true, final_sigmas_type: 'sigma_min' }],
    ['dpmpp_2m', { use_lu_lambdas: true }],
    ['dpmpp_2m', { use_exponential_sigmas: true }],
    ['dpmpp_2m_karras', { algorithm_type: 'sde-dpmsolver++', solver_type: 'heun' }],
    ['unipc', { solver_order: 3 }],
    ['unipc', { solver_type: 'bh1' }],
    ['unipc', { predict_x0: false, final_sigmas_type: 'sigma_min' }],
    ['unipc', { disable_corrector: [0, 1] }],
    ['euler', { use_exponential_sigmas: true, timestep_spacing: 'linspace' }],
    ['euler', { rescale_betas_zero_snr: true, timestep_spacing: 'trailing', prediction_type: 'v_prediction' }],
    ['ddim', { beta_schedule: 'squaredcos_cap_v2', timestep_spacing: 'linspace', clip_sample: true }],
    ['ddpm', { variance_type: 'fixed_large', beta_schedule: 'linear', prediction_type: 'sample' }],
    ['pndm', { timestep_spacing: 'linspace', set_alpha_to_one: true }],
    ['pndm', { skip_prk_steps: false, prediction_type: 'v_prediction' }],
    ['lcm', { original_inference_steps: 25, timestep_scaling: 5 }],
    ['euler_a', { trained_betas: Array.from({ length: 1000 }, (_, i) => 0.0001 + (0.02 - 0.0001) * (i / 999)) }],
  ];
  for (const [sampler, overrides] of variants) {
    it(`${sampler} ${JSON.stringify(overrides).slice(0, 80)}`, () => {
      const samples = trajectory(createScheduler(sampler, { ...SD15, ...overrides }), 7);
      for (const s of samples) expect(s.every(Number.isFinite)).toBe(true);
    });
  }
});
