// The pipeline's public surface, for the worker, the CLI and the tools.
export { PipelineHost, type PipelineHostOptions, type Progress, type GenerateCallOptions } from './host.js';
export type { GenerationOutput, GeneratedImage, GenerationTimings } from './generate.js';
export { type GenerationRequest, formatParameters, samplerLabel, imageSeed, validateRequest, MAX_SEED, MAX_STEPS, MAX_GUIDANCE, RNG_NAMES } from './request.js';
export { encodePng, readPngParameters, type RgbImage } from './png.js';
export { makeGrid } from './grid.js';
export { validateModelFolder, validateModelLayout, type ModelInfo } from './model.js';
export { PipelineError, ModelLoadError, InvalidRequestError, GenerationAbortedError } from './errors.js';
export { SAMPLERS } from './schedulers/registry.js';
export type { SamplerName } from './schedulers/types.js';
