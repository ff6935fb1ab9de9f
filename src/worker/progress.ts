// Fire-and-forget progress with a latest-value slot: generation never waits for Discord.
// At most one send in flight, sends at least an interval apart (counted from the end of
// the previous send, so encoding time cannot squeeze two edits together), only new values
// are sent, and a 429 pauses sending for Discord's retry_after (or a doubling backoff).
import { RateLimitedError } from './discord.js';

/** Thrown by `send` to stop all further progress for this job (message gone, token dead). */
export class StopProgressError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'StopProgressError';
  }
}

export interface ProgressReporterOptions<T> {
  /** Minimum time from the end of one send to the start of the next (PREVIEW_INTERVAL_MS). */
  intervalMs: number;
  send: (value: T) => Promise<void>;
  /** @defaultValue Date.now */
  clock?: () => number;
  /** Failed sends other than rate limits and stops (the next value is tried anyway). */
  onError?: (err: unknown) => void;
  /** Backoff after a 429 that gave no retry_after; doubles up to 60 s. @defaultValue 1000 */
  backoffMs?: number;
}

export class ProgressReporter<T> {
  private latest: { value: T } | null = null;
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextSendAt = 0;
  private backoffMs: number;
  private closed = false;
  private stopped = false;
  private readonly clock: () => number;

  constructor(private readonly options: ProgressReporterOptions<T>) {
    if (!Number.isInteger(options.intervalMs) || options.intervalMs < 0) {
      throw new RangeError(`intervalMs must be a whole number >= 0, got ${options.intervalMs}`);
    }
    this.clock = options.clock ?? Date.now;
    this.backoffMs = options.backoffMs ?? 1000;
  }

  /** True once a send asked to stop (the message is gone or can no longer be edited). */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Replaces the pending value; sends it when allowed. Never blocks, never throws. */
  offer(value: T): void {
    if (this.closed || this.stopped) return;
    this.latest = { value };
    this.schedule();
  }

  /** Drops any pending value and waits for the send in flight, so a final edit comes last. */
  async close(): Promise<void> {
    this.closed = true;
    this.latest = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  private schedule(): void {
    if (this.closed || this.stopped || this.inFlight !== null || this.timer !== null || this.latest === null) return;
    const delay = Math.max(0, this.nextSendAt - this.clock());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire();
    }, delay);
  }

  private fire(): void {
    const pending = this.latest;
    if (this.closed || this.stopped || pending === null) return;
    this.latest = null;
    this.inFlight = this.options
      .send(pending.value)
      .then(() => {
        this.backoffMs = this.options.backoffMs ?? 1000;
      })
      .catch((err: unknown) => {
        if (err instanceof StopProgressError) {
          this.stopped = true;
        } else if (err instanceof RateLimitedError) {
          const wait = err.retryAfterMs > 0 ? err.retryAfterMs : this.backoffMs;
          this.backoffMs = Math.min(60_000, this.backoffMs * 2);
          this.nextSendAt = this.clock() + wait;
        } else {
          this.options.onError?.(err);
        }
      })
      .finally(() => {
        this.inFlight = null;
        this.nextSendAt = Math.max(this.nextSendAt, this.clock() + this.options.intervalMs);
        this.schedule();
      });
  }
}
