// Seeded unit-normal generators that reproduce the two conventions Stable Diffusion
// front ends use (RNG_NAMES in the job contract), so a seed gives the same image as elsewhere.
import { RNG_NAMES, type RngName } from '../../contract/names.js';
import type { NoiseSource } from '../schedulers/types.js';
import { NumpyRandomState } from './numpy.js';
import { TorchCpuGenerator } from './torch.js';

export type { NoiseSource };
export { NumpyRandomState } from './numpy.js';
export { TorchCpuGenerator } from './torch.js';

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
