// Typed pipeline errors (on the base of src/errors.ts). A bad request is the contract's
// InvalidRequestError (the user's mistake). ModelLoadError says what is missing or wrong
// in a model folder; ModelFaultError is a model that misbehaves at run time (wrong dtype
// or size out): both are the operator's to fix, never blamed on the user.
import { AppError, type AppErrorOptions } from '../errors.js';

export { InvalidRequestError } from '../contract/errors.js';

export class PipelineError extends AppError {
  /** A pipeline failure: not the user's, and another attempt (another thread, another worker) may succeed. */
  constructor(message: string, options: AppErrorOptions = { userVisible: false, retryable: true }) {
    super(message, options);
  }
}

export class ModelLoadError extends PipelineError {
  constructor(message: string) {
    super(message, { userVisible: false, retryable: false });
  }
}

/** The model's output is not what its export declares or the request needs. */
export class ModelFaultError extends PipelineError {
  constructor(message: string) {
    super(message, { userVisible: false, retryable: false });
  }
}

/** Thrown when an AbortSignal stops a generation between two steps. */
export class GenerationAbortedError extends PipelineError {
  constructor() {
    super('generation cancelled', { userVisible: false, retryable: false });
  }
}
