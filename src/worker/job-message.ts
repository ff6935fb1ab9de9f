// Where a job's message lives and how to reach it. While the interaction token is valid
// (with a safety margin) the message is edited through the interaction webhook; after
// that, or when Discord says the token is dead, the final result is posted as a new
// channel message with the bot token, replying to the original and mentioning the user.
import type { MessagePayload } from '../discord/messages.js';
import { MessageGoneError, RateLimitedError, TokenInvalidError, type DiscordMessages } from './discord.js';
import { StopProgressError } from './progress.js';

export interface JobMessageTarget {
  channelId: string;
  /** The interaction response message id, when the bot stored it. */
  messageId: string | null;
  /** Null once cleared after it expired (retention). */
  interactionToken: string | null;
  interactionTokenExpiresAt: Date;
}

export type DeliveryRoute = 'interaction' | 'channel';

/** Every route failed; the job row records the reason so /show can bring the result back. */
export class DeliveryFailedError extends Error {
  constructor(readonly reasons: string[]) {
    super(`could not deliver the result: ${reasons.join('; ')}`);
    this.name = 'DeliveryFailedError';
  }
}

export interface JobMessageOptions {
  /** @defaultValue Date.now */
  clock?: () => number;
  /** Stop using the interaction token this long before it expires. @defaultValue 60000 */
  tokenMarginMs?: number;
  /**
   * Longest total wait for rate limits on one route of a final message, the wait a progress
   * edit left behind included: a delivery must fit in the shutdown grace, and one that would
   * wait longer fails (DeliveryFailedError) and is retried later. @defaultValue 10000
   */
  maxRateLimitWaitMs?: number;
  /** @defaultValue setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class JobMessage {
  private tokenDead = false;
  private messageGone = false;
  /** Discord's last retry_after, as a time: the final message waits for it too. */
  private rateLimitedUntil = 0;
  private readonly clock: () => number;
  private readonly tokenMarginMs: number;
  private readonly maxRateLimitWaitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly discord: DiscordMessages,
    private readonly target: JobMessageTarget,
    options: JobMessageOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.tokenMarginMs = options.tokenMarginMs ?? 60_000;
    this.maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 10_000;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** Whether the original message can still be edited through the interaction token. */
  canEditOriginal(): boolean {
    return this.liveToken() !== null;
  }

  /** The interaction token while it can still edit the original message. */
  private liveToken(): string | null {
    const token = this.target.interactionToken;
    if (token === null || this.tokenDead || this.messageGone) return null;
    return this.clock() < this.target.interactionTokenExpiresAt.getTime() - this.tokenMarginMs ? token : null;
  }

  /**
   * One progress edit. Throws RateLimitedError (skip and slow down) or StopProgressError
   * (no more previews: the token expired or the message was deleted).
   */
  async editProgress(payload: MessagePayload): Promise<void> {
    const token = this.liveToken();
    if (token === null) throw new StopProgressError('the interaction token expired');
    try {
      await this.discord.editInteractionMessage(token, this.target.messageId, payload);
    } catch (err) {
      this.note(err);
      if (err instanceof MessageGoneError || err instanceof TokenInvalidError) throw new StopProgressError(err.message);
      throw err;
    }
  }

  /**
   * A note on a job that is not final (it waits for a worker): the original message edited
   * through the interaction token while it lives, else with the bot token. One call, no waits.
   */
  async editNotice(payload: MessagePayload): Promise<void> {
    const token = this.liveToken();
    if (token !== null) {
      await this.discord.editInteractionMessage(token, this.target.messageId, payload);
      return;
    }
    if (this.target.messageId === null) throw new MessageGoneError();
    await this.discord.editInChannel(this.target.channelId, this.target.messageId, payload);
  }

  /**
   * The final message: edit the original if possible, else post to the channel and turn
   * the original (still showing progress and a Cancel button) into `superseded`. Nothing goes
   * past `deadline` (epoch ms): no rate-limit wait (nor one longer than maxRateLimitWaitMs),
   * and no request, which is aborted then.
   */
  async deliver(
    payload: MessagePayload,
    superseded: MessagePayload,
    deadline = Infinity,
  ): Promise<{ route: DeliveryRoute; messageId: string }> {
    const reasons: string[] = [];
    const signal = Number.isFinite(deadline) ? AbortSignal.timeout(Math.max(1, deadline - this.clock())) : undefined;
    const token = this.liveToken();
    if (token !== null) {
      try {
        const { messageId } = await this.withRateLimitRetries(
          () => this.discord.editInteractionMessage(token, this.target.messageId, payload, signal),
          deadline,
        );
        return { route: 'interaction', messageId };
      } catch (err) {
        this.note(err);
        reasons.push(`interaction edit: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const replyTo = this.messageGone ? null : this.target.messageId;
    try {
      const { messageId } = await this.withRateLimitRetries(
        () => this.discord.postToChannel(this.target.channelId, payload, replyTo, signal),
        deadline,
      );
      if (replyTo !== null) {
        // Best effort: the result is delivered already; an old message left as it was is harmless.
        await this.discord.editInChannel(this.target.channelId, replyTo, superseded, signal).catch(() => undefined);
      }
      return { route: 'channel', messageId };
    } catch (err) {
      reasons.push(`channel message: ${err instanceof Error ? err.message : String(err)}`);
      throw new DeliveryFailedError(reasons);
    }
  }

  private note(err: unknown): void {
    if (err instanceof MessageGoneError) this.messageGone = true;
    if (err instanceof TokenInvalidError) this.tokenDead = true;
    if (err instanceof RateLimitedError) this.rateLimitedUntil = Math.max(this.rateLimitedUntil, this.clock() + err.retryAfterMs);
  }

  /** Calls until it is not rate limited, waiting as Discord asks, but never past the wait budget. */
  private async withRateLimitRetries<T>(call: () => Promise<T>, deadline: number): Promise<T> {
    const waitUntil = Math.min(deadline, this.clock() + this.maxRateLimitWaitMs);
    let backoff = 250;
    const pending = this.rateLimitedUntil - this.clock();
    if (pending > 0) {
      if (this.clock() + pending > waitUntil) throw new RateLimitedError(pending);
      await this.sleep(pending);
    }
    for (;;) {
      try {
        return await call();
      } catch (err) {
        this.note(err);
        if (!(err instanceof RateLimitedError)) throw err;
        const wait = Math.max(err.retryAfterMs, backoff);
        // Trying before Discord's retry_after only earns another 429: give up now instead.
        if (this.clock() + wait > waitUntil) throw err;
        backoff = Math.min(30_000, backoff * 2);
        await this.sleep(wait);
      }
    }
  }
}
