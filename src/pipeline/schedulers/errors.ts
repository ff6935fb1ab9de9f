import type { SamplerName } from './types.js';

/** Base class of every scheduler error. */
export class SchedulerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A sampler name that is not one of SAMPLERS. */
export class UnknownSamplerError extends SchedulerError {
  constructor(
    readonly sampler: string,
    readonly validNames: readonly SamplerName[],
  ) {
    super(`Unknown sampler "${sampler}". Valid samplers: ${validNames.join(', ')}.`);
  }
}

/** A scheduler_config.json value of the wrong type, or an option we do not implement. */
export class InvalidSchedulerConfigError extends SchedulerError {}

/** A call that does not fit the scheduler's state or arguments (e.g. step before setTimesteps). */
export class SchedulerUsageError extends SchedulerError {}
