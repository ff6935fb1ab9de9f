// The pipeline's public surface, for the worker, the CLI and the tools. The request type,
// its validation and the PNG parameters are the job contract's (src/contract).
export { PipelineHost, type PipelineHostOptions, type Progress, type GenerateCallOptions } from './host.js';
export type { GenerationOutput, GeneratedImage, GenerationTimings } from './generate.js';
export { validateModelFolder, validateModelLayout, advertisedInfo, type ModelDetails } from './model.js';
export { PipelineError, ModelLoadError, ModelFaultError, InvalidRequestError, GenerationAbortedError } from './errors.js';
