// Reading a run's outputs. Kept apart from index.ts, which loads ONNX Runtime: the
// denoising code that uses this is also imported where the runtime must not load (the
// PipelineHost's side of the thread).
import { ModelFaultError } from '../errors.js';
import type { PlainTensor } from './index.js';

/** The output `name` of a run of `model` (e.g. "UNet"); a graph that did not produce it is a model fault. */
export function outputNamed(outputs: Record<string, PlainTensor>, name: string, model: string): PlainTensor {
  const tensor = outputs[name];
  if (tensor === undefined) throw new ModelFaultError(`the ${model} returned no "${name}" output`);
  return tensor;
}
