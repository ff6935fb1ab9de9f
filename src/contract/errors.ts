// Errors of the job contract.
import { AppError } from '../errors.js';

/** A request that cannot run as asked: the user's to fix (shown as is), never retried. */
export class InvalidRequestError extends AppError {
  constructor(message: string) {
    super(message, { userVisible: true, retryable: false });
  }
}
