// The seeded generators against the shared numpy / torch vectors, plus their state
// handling and argument checks.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { fmaf } from '../src/pipeline/rng/avx-math.js';
import { createGenerator, NumpyRandomState, TorchCpuGenerator } from '../src/pipeline/rng/index.js';
import { parseVectorJson } from '../src/vectors/index.js';
import { checkRngVectorFile, ulpDistance } from '../src/vectors/rng.js';

const RNG_DIR = fileURLToPath(new URL('./vectors/rng/', import.meta.url));
const readVectors = (name: string) => parseVectorJson(readFileSync(RNG_DIR + name, 'utf8')) as Record<string, any>;
const torchVectors = readVectors('torch_cpu_randn.json');
const numpyVectors = readVectors('numpy_randomstate_randn.json');

const maxUlps = (got: ArrayLike<number>, want: number[], dtype: 'float32' | 'float64') => {
  const values = Array.from(got);
  return want.reduce((max, w, i) => Math.max(max, ulpDistance(at(values, i), w, dtype)), 0);
};

describe('TorchCpuGenerator', () => {
  it('reproduces every float32 case of torch_cpu_randn.json bit for bit', () => {
    const float32Cases = torchVectors.cases.filter((c: any) => c.dtype === 'float32');
    expect(float32Cases.length).toBeGreaterThan(10);
    for (const c of float32Cases) {
      const seed = Number(BigInt.asUintN(32, BigInt(c.seed)));
      const got = Array.from(new TorchCpuGenerator(seed).randn(c.n));
      if (c.values) expect(got, `seed ${c.seed} n ${c.n}`).toEqual(c.values);
      else {
        expect(got.slice(0, 32), `seed ${c.seed} n ${c.n} first`).toEqual(c.first);
        expect(got.slice(-32), `seed ${c.seed} n ${c.n} last`).toEqual(c.last);
      }
    }
  });

  it('continues one stream across calls (the sequential cases)', () => {
    for (const s of torchVectors.sequential) {
      const generator = new TorchCpuGenerator(s.seed);
      for (const draw of s.draws) {
        const n = draw.shape.reduce((a: number, b: number) => a * b, 1);
        expect(Array.from(generator.randn(n))).toEqual(draw.values);
      }
    }
  });

  it('draws float64 within 1 ULP of torch (libm differences only)', () => {
    const float64Cases = torchVectors.cases.filter((c: any) => c.dtype === 'float64');
    expect(float64Cases.length).toBeGreaterThan(0);
    for (const c of float64Cases) {
      const got = new TorchCpuGenerator(Number(c.seed)).randnFloat64(c.n);
      const want = c.values ?? c.first;
      expect(maxUlps(got, want, 'float64'), `seed ${c.seed} n ${c.n}`).toBeLessThanOrEqual(1);
    }
  });

  it('keeps the second value of a scalar Box-Muller pair for the next draw', () => {
    const pair = Array.from(new TorchCpuGenerator(5).randn(2));
    const generator = new TorchCpuGenerator(5);
    expect([generator.randn(1)[0], generator.randn(1)[0]]).toEqual(pair);
  });

  it('recomputes the last 16 values when n is not a multiple of 16', () => {
    const sixteen = new TorchCpuGenerator(0).randn(16);
    const seventeen = new TorchCpuGenerator(0).randn(17);
    expect(seventeen[0]).toBe(sixteen[0]);
    expect(seventeen[1]).not.toBe(sixteen[1]);
  });
});

describe('NumpyRandomState', () => {
  it('reproduces numpy_randomstate_randn.json: float64 within 3 ULP, float32 exactly', () => {
    let worst = 0;
    for (const c of numpyVectors.cases) {
      const values = new NumpyRandomState(c.seed).randnFloat64(c.n);
      worst = Math.max(worst, maxUlps(values, c.first64, 'float64'), maxUlps(values.subarray(c.n - c.last16.length), c.last16, 'float64'));
      const asFloat32 = Array.from(new NumpyRandomState(c.seed).randn(c.n).subarray(0, c.first64.length));
      expect(asFloat32, `seed ${c.seed} n ${c.n}`).toEqual(c.first64.map(Math.fround));
    }
    expect(worst).toBeLessThanOrEqual(3);
  });

  it('carries the cached gauss value and the MT position across calls', () => {
    const whole = Array.from(new NumpyRandomState(42).randnFloat64(7));
    const state = new NumpyRandomState(42);
    const parts = [...state.randnFloat64(3), ...state.randnFloat64(1), ...state.randnFloat64(3)];
    expect(parts).toEqual(whole);
  });

  it('draws random_sample doubles from two 32-bit outputs', () => {
    // np.random.RandomState(0).random_sample()
    expect(new NumpyRandomState(0).randomSample()).toBe(0.5488135039273248);
  });
});

describe('seeds and names', () => {
  it('accepts the full 32-bit range', () => {
    expect(createGenerator('numpy', 0xffffffff).randn(1)[0]).toBe(
      Math.fround(numpyVectors.cases.find((c: any) => c.seed === 4294967295).first64[0]),
    );
    expect(createGenerator('torch', 0).randn(1)[0]).toBe(torchVectors.cases[0].values[0]);
  });

  it.each([-1, 2 ** 32, 1.5, Number.NaN])('rejects seed %s with a RangeError', (seed) => {
    expect(() => createGenerator('torch', seed)).toThrow(new RangeError(`seed must be an integer from 0 to 4294967295, got ${seed}`));
    expect(() => new NumpyRandomState(seed)).toThrow(RangeError);
  });

  it('rejects an unknown generator name and a bad count', () => {
    expect(() => createGenerator('philox' as 'torch', 1)).toThrow(new RangeError("unknown rng 'philox'; valid: numpy, torch"));
    expect(() => new TorchCpuGenerator(1).randn(-1)).toThrow(new RangeError('n must be a whole number of values (>= 0), got -1'));
    expect(new NumpyRandomState(1).randn(0)).toHaveLength(0);
  });
});

describe('vector runner and float32 helpers', () => {
  it('passes both shared rng files and fails a corrupted one', () => {
    expect(checkRngVectorFile(torchVectors).passed).toBe(true);
    expect(checkRngVectorFile(numpyVectors).passed).toBe(true);
    const corrupted = structuredClone(torchVectors);
    corrupted.cases[3].values[5] = Math.fround(corrupted.cases[3].values[5] * 1.001);
    const result = checkRngVectorFile(corrupted);
    expect(result.passed).toBe(false);
    expect(result.detail).toContain('value 5');
  });

  it('fmaf rounds once, even where float64 then float32 would round twice', () => {
    // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 lies exactly between two float32 values;
    // the tiny addend must tip it upwards.
    const a = 1 + 2 ** -12;
    expect(Math.fround(a * a + 2 ** -60)).toBe(1 + 2 ** -11);
    expect(fmaf(a, a, 2 ** -60)).toBe(1 + 2 ** -11 + 2 ** -23);
    expect(fmaf(a, a, -(2 ** -60))).toBe(1 + 2 ** -11);
    expect(fmaf(3, 5, 0.25)).toBe(15.25);
  });
});
