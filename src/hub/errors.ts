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

/** The connection broke before the whole file arrived; the `.part` file is kept for resuming. */
export class DownloadInterruptedError extends HubError {}

/** A downloaded file does not match the hub's checksum; the file has been deleted. */
export class ChecksumError extends HubError {}
