// Typed pipeline errors. InvalidRequestError is the user's mistake: shown as is and
// never retried. ModelLoadError says what is missing or wrong in a model folder.

export class PipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class ModelLoadError extends PipelineError {}

export class InvalidRequestError extends PipelineError {}

/** Thrown when an AbortSignal stops a generation between two steps. */
export class GenerationAbortedError extends PipelineError {
  constructor() {
    super('generation cancelled');
  }
}
