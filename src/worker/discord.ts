// The worker's Discord REST calls (@discordjs/rest, API v10): editing a job's message
// through the interaction webhook while its token lives, posting to the channel with the
// bot token after that. A signal aborts a call (the library's own retries included). Rate limits never block inside the library: a 429 comes back to
// us as RateLimitedError, so progress can skip a frame and the final edit can wait.
import { DiscordAPIError, REST, RateLimitError } from '@discordjs/rest';
import { Routes, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { MessagePayload } from '../discord/messages.js';
import { REST_HANDLER_SWEEP_MS } from '../discord/rest.js';

/** Discord answered 429; try again after `retryAfterMs` (0 when it gave no hint). */
export class RateLimitedError extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`rate limited by Discord for ${retryAfterMs} ms`);
    this.name = 'RateLimitedError';
  }
}

/** The message is gone (deleted by a user or a moderator): Discord code 10008. */
export class MessageGoneError extends Error {
  constructor() {
    super('the job message was deleted');
    this.name = 'MessageGoneError';
  }
}

/** The interaction token expired or was revoked: 401 or Discord code 50027. */
export class TokenInvalidError extends Error {
  constructor() {
    super('the interaction token is no longer valid');
    this.name = 'TokenInvalidError';
  }
}

export interface DiscordRestOptions {
  token: string;
  /** DISCORD_API_BASE, without the version. */
  apiBase: string;
  /** Request timeout. @defaultValue 15000 */
  timeoutMs?: number;
}

/** A REST client that rejects on rate limits instead of sleeping inside the library. */
export function createDiscordRest(options: DiscordRestOptions): REST {
  return new REST({
    version: '10',
    api: options.apiBase,
    timeout: options.timeoutMs ?? 15_000,
    rejectOnRateLimit: () => true,
    handlerSweepInterval: REST_HANDLER_SWEEP_MS,
  }).setToken(options.token);
}

function body(payload: MessagePayload): Record<string, unknown> {
  return {
    content: payload.content,
    components: payload.components,
    allowed_mentions: payload.allowedMentions,
    // Listing the attachments replaces the message's old ones (the previous preview).
    attachments: payload.files.map((f, i) => ({ id: i, filename: f.name })),
  };
}

async function translateErrors<T>(call: () => Promise<T>, onRateLimited: () => void): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof RateLimitError) {
      onRateLimited();
      throw new RateLimitedError(Math.max(0, err.retryAfter));
    }
    if (err instanceof DiscordAPIError) {
      if (err.code === 10008) throw new MessageGoneError();
      if (err.code === 50027 || err.status === 401) throw new TokenInvalidError();
    }
    throw err;
  }
}

export class DiscordMessages {
  /**
   * @param onRateLimited called for every 429 (and every wait the library would have
   *   made for an exhausted bucket), for metrics.
   */
  constructor(
    private readonly rest: REST,
    private readonly applicationId: string,
    private readonly onRateLimited: () => void = () => {},
  ) {}

  /**
   * Edits a message of the interaction (the job message) with its webhook token: `messageId`
   * (the original response or a follow-up, as jobs of one prompt's choices have), or the
   * original response when null.
   */
  async editInteractionMessage(
    interactionToken: string,
    messageId: string | null,
    payload: MessagePayload,
    signal?: AbortSignal,
  ): Promise<{ messageId: string }> {
    const message = (await translateErrors(
      () =>
        this.rest.patch(Routes.webhookMessage(this.applicationId, interactionToken, messageId ?? '@original'), {
          body: body(payload),
          files: payload.files,
          auth: false,
          signal,
        }),
      this.onRateLimited,
    )) as { id: string };
    return { messageId: message.id };
  }

  /** Edits a channel message with the bot token (the bot's own messages only). */
  async editInChannel(channelId: string, messageId: string, payload: MessagePayload, signal?: AbortSignal): Promise<void> {
    await translateErrors(
      () => this.rest.patch(Routes.channelMessage(channelId, messageId), { body: body(payload), files: payload.files, signal }),
      this.onRateLimited,
    );
  }

  /** Posts a new channel message with the bot token, as a reply to `replyTo` when given. */
  async postToChannel(
    channelId: string,
    payload: MessagePayload,
    replyTo: string | null,
    signal?: AbortSignal,
  ): Promise<{ messageId: string }> {
    const json: RESTPostAPIChannelMessageJSONBody = {
      ...body(payload),
      ...(replyTo === null ? {} : { message_reference: { message_id: replyTo, fail_if_not_exists: false } }),
    };
    const message = (await translateErrors(
      () => this.rest.post(Routes.channelMessages(channelId), { body: json, files: payload.files, signal }),
      this.onRateLimited,
    )) as { id: string };
    return { messageId: message.id };
  }
}
