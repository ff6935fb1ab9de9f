// Seeded unit-normal generators that reproduce the two conventions Stable Diffusion
// front ends use, so a seed gives the same image as elsewhere:
// 'torch' = torch.randn on a CPU generator (diffusers, ComfyUI's CPU noise),
// 'numpy' = np.random.RandomState(seed).randn (diffusers' older ONNX pipelines).
import type { NoiseSource } from '../schedulers/types.js';
import { NumpyRandomState } from './numpy.js';
import { TorchCpuGenerator } from './torch.js';

export type { NoiseSource };
export { NumpyRandomState } from './numpy.js';
export { TorchCpuGenerator } from './torch.js';
export { MAX_SEED } from './seed.js';

export type RngName = 'numpy' | 'torch';

export const RNG_NAMES: readonly RngName[] = Object.freeze(['numpy', 'torch']);

/** A fresh generator of the named kind; RangeError for an unknown name or a bad seed. */
export function createGenerator(name: RngName, seed: number): NoiseSource {
  switch (name) {
    case 'numpy':
      return new NumpyRandomState(seed);
    case 'torch':
      return new TorchCpuGenerator(seed);
    default:
      throw new RangeError(`unknown rng '${String(name)}'; valid: ${RNG_NAMES.join(', ')}`);
  }
}
