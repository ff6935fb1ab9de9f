// The job contract: what a job asks for and its limits, the name lists, seed arithmetic,
// what a worker advertises about a model, the PNG parameters and the result file. The
// bot, the database, the queue, the worker and the pipeline all import it from here; it
// never loads ONNX Runtime.
export {
  SAMPLERS,
  RNG_NAMES,
  JOB_KINDS,
  isSamplerName,
  samplerLabel,
  rngLabel,
  type SamplerName,
  type RngName,
  type JobKind,
} from './names.js';
export { MAX_SEED, imageSeed, randomSeed } from './seed.js';
export { JOB_ID_LENGTH, isJobId, newJobId, normalizeJobId } from './job-id.js';
export {
  LIMITS,
  isModelName,
  textLength,
  textProblem,
  oneOfProblem,
  numberProblem,
  strengthProblem,
  settingsProblems,
  jobParamsProblems,
  sizeProblem,
  modelProblems,
  validateGenerationRequest,
  generationRequest,
  type GenerationSettings,
  type StoredImageRef,
  type JobParams,
  type GenerationRequest,
  type PipelineEdit,
} from './request.js';
export {
  REGION_CELLS,
  ZOOM_FACTORS,
  PAN_DIRECTIONS,
  UPSCALE_MODES,
  EDIT_KINDS,
  EDIT_STRENGTH,
  editStrength,
  editCount,
  editDenoises,
  editLabel,
  editSize,
  editProblem,
  editNote,
  EditSizeError,
  type Edit,
  type EditSize,
  type RegionCell,
  type ZoomFactor,
  type PanDirection,
  type UpscaleMode,
} from './edits.js';
export { parseModelInfo, type ModelInfo } from './model-info.js';
export { formatParameters } from './parameters.js';
export { resultFile, type StoredPng } from './result-file.js';
export { InvalidRequestError } from './errors.js';
