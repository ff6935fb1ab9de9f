// Errors of the queue contract. They name the bad value so a log line is enough to fix it.

/** A model name that cannot become a BullMQ queue name (only letters, digits, '.', '_' and '-'). */
export class InvalidModelNameError extends Error {
  constructor(readonly model: string) {
    super(`invalid model name ${JSON.stringify(model)}: expected letters, digits, '.', '_' or '-' (1-64)`);
    this.name = 'InvalidModelNameError';
  }
}

/** A job id BullMQ would reject or misread (it must contain no ':' and must not be a plain integer). */
export class InvalidJobIdError extends Error {
  constructor(readonly jobId: string) {
    super(`invalid job id ${JSON.stringify(jobId)}: expected 6-32 lowercase letters and digits, not a plain integer`);
    this.name = 'InvalidJobIdError';
  }
}
