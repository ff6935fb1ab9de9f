// Errors of the Hugging Face Hub client. Messages are one line a user can act on.

export class HubError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The hub answered with an HTTP error (repository missing, gated, rate limited...). */
export class HubHttpError extends HubError {
  constructor(
    readonly status: number,
    readonly url: string,
    message: string,
  ) {
    super(message);
  }
}

/** The hub could not be reached at all (DNS, refused or reset connection, TLS). */
export class HubUnreachableError extends HubError {}

/** The connection broke before the whole file arrived; the `.part` file is kept for resuming. */
export class DownloadInterruptedError extends HubError {}

/** A downloaded file does not match the hub's checksum; the file has been deleted. */
export class ChecksumError extends HubError {}

/**
 * The server sent more bytes than the file list declares (the download stopped at once) or
 * ended the file cleanly before them; the `.part` file has been deleted.
 */
export class SizeMismatchError extends HubError {}

/** A file list entry whose path could write outside the model folder; nothing was downloaded. */
export class UnsafePathError extends HubError {}

/** The destination's file system has too little free space for the files still to download. */
export class InsufficientSpaceError extends HubError {
  constructor(
    readonly neededBytes: number,
    readonly availableBytes: number,
    message: string,
  ) {
    super(message);
  }
}

/** Failures that a new attempt may get past: network trouble and the hub's own errors. */
export function isRetryable(error: unknown): boolean {
  return (
    error instanceof DownloadInterruptedError ||
    error instanceof HubUnreachableError ||
    (error instanceof HubHttpError && (error.status >= 500 || error.status === 429))
  );
}
