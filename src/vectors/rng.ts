// Checks rng/numpy_randomstate_randn.json and rng/torch_cpu_randn.json (format in
// test/vectors/README.md) against src/pipeline/rng.
//
// Tolerances, in units in the last place (ULP) of the stored dtype:
// * float32 values (torch float32, and numpy's float64 cast to float32 as diffusers
//   does): at most 1 ULP; the torch float32 path is in fact bit-exact.
// * float64 values: at most 8 ULP. JavaScript's Math.log/sin/cos are not glibc's, so a
//   value can differ in its last bits (measured: at most 3 ULP over 1.8M numpy draws).
// * `sum`: what those per-value tolerances allow over n values.
import { at } from '../checked.js';
import { NumpyRandomState, TorchCpuGenerator } from '../pipeline/rng/index.js';
import type { VectorCheckResult } from './index.js';

export const FLOAT32_MAX_ULPS = 1;
export const FLOAT64_MAX_ULPS = 8;

type Dtype = 'float32' | 'float64';

/** Accumulates the comparison of drawn values with stored ones. */
class Comparison {
  maxAbsError = 0;
  maxUlps: Record<Dtype, number> = { float32: 0, float64: 0 };
  readonly failures: string[] = [];

  values(label: string, got: ArrayLike<number>, want: readonly number[], dtype: Dtype): void {
    if (got.length !== want.length) {
      this.failures.push(`${label}: ${got.length} values drawn, ${want.length} stored`);
      return;
    }
    const gotValues = Array.from(got);
    let worst = 0;
    let worstIndex = -1;
    for (const [i, w] of want.entries()) {
      const g = at(gotValues, i);
      this.maxAbsError = Math.max(this.maxAbsError, Math.abs(g - w));
      const ulps = ulpDistance(g, w, dtype);
      if (ulps > worst) {
        worst = ulps;
        worstIndex = i;
      }
    }
    this.maxUlps[dtype] = Math.max(this.maxUlps[dtype], worst);
    if (worst > maxUlps(dtype)) {
      this.failures.push(`${label}: value ${worstIndex} is ${gotValues[worstIndex]}, expected ${want[worstIndex]} (${worst} ULP)`);
    }
  }

  sum(label: string, values: ArrayLike<number>, want: number, dtype: Dtype): void {
    const got = accurateSum(values);
    // Unit normals stay below 8 in magnitude; each may be off by the allowed ULPs there.
    const ulpAt8 = dtype === 'float32' ? 2 ** -20 : 2 ** -49;
    const tolerance = values.length * maxUlps(dtype) * ulpAt8;
    if (!(Math.abs(got - want) <= tolerance)) this.failures.push(`${label}: sum ${got}, expected ${want}`);
  }

  result(): VectorCheckResult {
    const ulps = `max ULP float32 ${this.maxUlps.float32}, float64 ${this.maxUlps.float64}`;
    const passed = this.failures.length === 0;
    return {
      maxAbsError: this.maxAbsError,
      passed,
      detail: passed ? ulps : `${ulps}; ${this.failures.length} failed: ${this.failures.slice(0, 5).join('; ')}`,
    };
  }
}

interface NumpyCase {
  seed: number;
  n: number;
  first64: number[];
  last16: number[];
  sum: number;
}

interface TorchCase {
  seed: number | string;
  shape: number[];
  dtype?: Dtype;
  n: number;
  sum: number;
  values?: number[];
  first?: number[];
  last?: number[];
}

interface TorchSequential {
  seed: number | string;
  dtype?: Dtype;
  draws: { shape: number[]; values: number[] }[];
}

/** True when `json` is one of the two rng vector formats. */
export function isRngVectorFile(json: Record<string, unknown>): boolean {
  return typeof json.generator === 'string' && Array.isArray(json.cases);
}

/** Checks an rng vector file (parsed with `parseVectorJson`, which keeps 64-bit seeds exact). */
export function checkRngVectorFile(json: Record<string, unknown>): VectorCheckResult {
  const generator = String(json.generator);
  if (generator.startsWith('numpy.random.RandomState')) return checkNumpy(json.cases as NumpyCase[]);
  if (generator.includes('torch.Generator')) return checkTorch(json.cases as TorchCase[], (json.sequential ?? []) as TorchSequential[]);
  return { maxAbsError: Infinity, passed: false, detail: `unknown generator ${JSON.stringify(generator)}` };
}

function checkNumpy(cases: NumpyCase[]): VectorCheckResult {
  const cmp = new Comparison();
  for (const c of cases) {
    const label = `seed ${c.seed} n ${c.n}`;
    const values = new NumpyRandomState(c.seed).randnFloat64(c.n);
    const first = values.subarray(0, c.first64.length);
    const last = values.subarray(c.n - c.last16.length);
    cmp.values(`${label} first64`, first, c.first64, 'float64');
    cmp.values(`${label} last16`, last, c.last16, 'float64');
    // What diffusers uses: the float64 draws rounded to float32.
    cmp.values(`${label} first64 as float32`, Float32Array.from(first), c.first64.map(Math.fround), 'float32');
    cmp.sum(label, values, c.sum, 'float64');
  }
  return cmp.result();
}

function checkTorch(cases: TorchCase[], sequential: TorchSequential[]): VectorCheckResult {
  const cmp = new Comparison();
  for (const c of cases) {
    const dtype = c.dtype ?? 'float32';
    const label = `seed ${c.seed} shape [${c.shape.join(',')}] ${dtype}`;
    const generator = new TorchCpuGenerator(torchSeed(c.seed));
    const values = dtype === 'float32' ? generator.randn(c.n) : generator.randnFloat64(c.n);
    if (c.values) cmp.values(label, values, c.values, dtype);
    if (c.first) cmp.values(`${label} first`, values.subarray(0, c.first.length), c.first, dtype);
    if (c.last) cmp.values(`${label} last`, values.subarray(c.n - c.last.length), c.last, dtype);
    cmp.sum(label, values, c.sum, dtype);
  }
  for (const s of sequential) {
    const dtype = s.dtype ?? 'float32';
    const generator = new TorchCpuGenerator(torchSeed(s.seed));
    s.draws.forEach((draw, i) => {
      const n = draw.shape.reduce((a, b) => a * b, 1);
      const values = dtype === 'float32' ? generator.randn(n) : generator.randnFloat64(n);
      cmp.values(`sequential seed ${s.seed} draw ${i}`, values, draw.values, dtype);
    });
  }
  return cmp.result();
}

/** torch's manual_seed keeps the low 32 bits for MT19937 (seeds may be 64-bit, so they can arrive as strings). */
function torchSeed(seed: number | string): number {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RangeError(`seed ${seed} lost precision in JSON.parse; read the file with parseVectorJson`);
  }
  return Number(BigInt.asUintN(32, BigInt(seed)));
}

function maxUlps(dtype: Dtype): number {
  return dtype === 'float32' ? FLOAT32_MAX_ULPS : FLOAT64_MAX_ULPS;
}

const bitsView = new DataView(new ArrayBuffer(8));

/** Number of representable `dtype` values between a and b (0 when equal, Infinity for NaN). */
export function ulpDistance(a: number, b: number, dtype: Dtype): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  if (dtype === 'float32') {
    const ordered = (x: number) => {
      bitsView.setFloat32(0, x);
      const bits = bitsView.getInt32(0);
      return bits < 0 ? -(bits & 0x7fffffff) : bits;
    };
    return Math.abs(ordered(a) - ordered(b));
  }
  const ordered = (x: number) => {
    bitsView.setFloat64(0, x);
    const bits = bitsView.getBigInt64(0);
    return bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits;
  };
  const d = ordered(a) - ordered(b);
  return Number(d < 0n ? -d : d);
}

/** Neumaier-compensated sum: close to math.fsum for these sizes. */
function accurateSum(values: ArrayLike<number>): number {
  let sum = 0;
  let compensation = 0;
  for (const v of Array.from(values)) {
    const t = sum + v;
    compensation += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
    sum = t;
  }
  return sum + compensation;
}
