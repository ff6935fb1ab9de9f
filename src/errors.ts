// The base of our own error classes. Two questions decide what happens to a failure, so
// every error answers them: may its message be shown to the user as it is (a refusal, a
// bad request), and may trying again succeed (a timeout, a service that was away)?
// Everything else about an error is its class and message.

export interface AppErrorOptions {
  /** The message is meant for the user (shown as is); otherwise the user sees a generic message. */
  userVisible: boolean;
  /** Running the same work again may succeed. */
  retryable: boolean;
  cause?: unknown;
}

export class AppError extends Error {
  readonly userVisible: boolean;
  readonly retryable: boolean;

  constructor(message: string, options: AppErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.userVisible = options.userVisible;
    this.retryable = options.retryable;
  }
}

/** Whether `error`'s message may be shown to the user as it is. */
export function isUserVisible(error: unknown): error is AppError {
  return error instanceof AppError && error.userVisible;
}

/** Whether running the work again may succeed: our errors say so; unknown errors are assumed transient. */
export function isRetryable(error: unknown): boolean {
  return error instanceof AppError ? error.retryable : true;
}
