// A local Discord API server for tests: REST v10 and the gateway websocket on 127.0.0.1
// with an ephemeral port. It records every request, answers like Discord (snowflake ids,
// error codes, the 3-second and 15-minute interaction rules, the attachment rules of
// message edits), and sends interactions over the gateway as Discord does. A real
// discord.js client logs in with `rest: { api: discord.apiBase }`; @discordjs/rest in the
// worker uses the same base.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { at } from '../../src/checked.js';
import { FakeGateway } from './gateway.js';
import {
  clickPayload,
  commandPayload,
  hasButton,
  InteractionType,
  modalSubmitPayload,
  newInteractionToken,
  userJson,
  type AutocompleteInput,
  type ClickInput,
  type CommandInput,
  type Context,
  type InteractionHandle,
  type InteractionState,
  type ModalSubmitInput,
  type UploadInput,
} from './interactions.js';
import { DiscordApiError, MessageFlags, MessageStore, validateMessageBody } from './messages.js';
import { snowflake } from './snowflake.js';
import type { FakeChannel, FakeGuild, FakeUser, Json, RecordedRequest, RequestRule, StoredMessage, UploadedFile } from './types.js';

export type {
  FakeChannel,
  FakeGuild,
  FakeUser,
  Json,
  RecordedRequest,
  ReplyRule,
  RequestRule,
  StoredMessage,
  UploadedFile,
} from './types.js';
export type {
  InteractionHandle,
  RawOption,
  CommandInput,
  ClickInput,
  AutocompleteInput,
  ModalSubmitInput,
  UploadInput,
} from './interactions.js';
export { DiscordApiError, MessageFlags } from './messages.js';
export { snowflake } from './snowflake.js';

export interface FakeDiscordOptions {
  /** Port on 127.0.0.1. An ephemeral one by default. */
  port?: number;
  /** Application id, also the bot user's id. A fresh snowflake by default. */
  applicationId?: string;
  /** The bot token clients must present. A fresh token-shaped string by default. */
  botToken?: string;
  botUsername?: string;
  /** Guilds the bot is in. One guild "Test Guild" with one channel "general" by default. */
  guilds?: Array<{ id?: string; name?: string; channels?: Array<Partial<FakeChannel>>; roles?: string[] }>;
  /** `shards` in GET /gateway/bot: how many discord.js's `shards: 'auto'` connects. 1 by default. */
  recommendedShards?: number;
  /** `session_start_limit.max_concurrency`: shards that may identify at once (1, like most bots, by default). */
  maxConcurrency?: number;
  /** HELLO's heartbeat_interval (41250 ms like Discord by default). */
  heartbeatIntervalMs?: number;
  /** Time allowed for the first interaction response (3000 ms like Discord by default). */
  interactionDeadlineMs?: number;
  /** Lifetime of interaction tokens (15 minutes like Discord by default). */
  tokenLifetimeMs?: number;
  /** Largest accepted file (10 MiB like Discord's default by default). */
  maxUploadBytes?: number;
}

const MAX_REQUEST_BYTES = 25 * 1024 * 1024;

interface Reply {
  status: number;
  json?: Json;
  headers?: Record<string, string>;
}

type Handler = (req: RecordedRequest, params: string[]) => Reply;

/** The values of a route path's `:name` segments, one string each: `/a/:x/b/:y` gives `[string, string]`. */
type PathParams<P extends string> = P extends `${string}:${string}/${infer Rest}`
  ? [string, ...PathParams<`/${Rest}`>]
  : P extends `${string}:${string}`
    ? [string]
    : [];

interface Route {
  method: string;
  pattern: RegExp;
  botAuth: boolean;
  handler: Handler;
}

const json = (value: Json, status = 200): Reply => ({ status, json: value });
const noContent = (): Reply => ({ status: 204 });

export class FakeDiscord {
  readonly applicationId: string;
  readonly botToken: string;
  readonly botUsername: string;
  readonly guilds: FakeGuild[];
  /** Every REST request, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  readonly messages: MessageStore;
  readonly gateway: FakeGateway;

  private readonly server: Server;
  private readonly rules: RequestRule[] = [];
  private readonly holds: { predicate: (r: RecordedRequest) => boolean; ms: number; onHeld: (r: RecordedRequest) => void }[] = [];
  private readonly requestWaiters = new Set<(r: RecordedRequest) => void>();
  private readonly users = new Map<string, FakeUser>();
  private readonly dmChannels = new Map<string, string>();
  private readonly interactionsById = new Map<string, InteractionState>();
  private readonly interactionsByToken = new Map<string, InteractionState>();
  private readonly globalCommands: Json[] = [];
  private readonly guildCommands = new Map<string, Json[]>();
  private readonly routes: Route[];
  private readonly deadlineMs: number;
  private readonly tokenLifetimeMs: number;
  private readonly maxUploadBytes: number;
  private readonly recommendedShards: number;
  private readonly maxConcurrency: number;
  private port: number;
  private callbacksFail = false;

  constructor(options: FakeDiscordOptions = {}) {
    this.applicationId = options.applicationId ?? snowflake();
    this.botToken = options.botToken ?? `${Buffer.from(this.applicationId).toString('base64url')}.GfAkE1.${'x'.repeat(38)}`;
    this.botUsername = options.botUsername ?? 'imagine-test';
    this.deadlineMs = options.interactionDeadlineMs ?? 3000;
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 15 * 60_000;
    this.maxUploadBytes = options.maxUploadBytes ?? 10 * 1024 * 1024;
    this.port = options.port ?? 0;
    this.recommendedShards = options.recommendedShards ?? 1;
    this.maxConcurrency = options.maxConcurrency ?? 1;
    this.guilds = (options.guilds ?? [{}]).map((g, i) => ({
      id: g.id ?? snowflake(),
      name: g.name ?? (i === 0 ? 'Test Guild' : `Test Guild ${i + 1}`),
      channels: (g.channels ?? [{}]).map((c, j) => ({
        id: c.id ?? snowflake(),
        name: c.name ?? (j === 0 ? 'general' : `channel-${j + 1}`),
      })),
      roles: g.roles ?? [],
    }));
    this.messages = new MessageStore(() => `${this.origin}/attachments`, this.users, {
      id: this.applicationId,
      username: this.botUsername,
    });
    this.gateway = new FakeGateway({
      botToken: this.botToken,
      applicationId: this.applicationId,
      botUsername: this.botUsername,
      guilds: this.guilds,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
      url: () => this.gatewayUrl,
    });
    this.routes = this.buildRoutes();
    this.server = createServer((req, res) => void this.onHttp(req, res));
    this.server.on('upgrade', (req, socket, head) => this.gateway.handleUpgrade(req, socket, head));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What DISCORD_API_BASE takes (discord.js and @discordjs/rest add `/v10`). */
  get apiBase(): string {
    return `${this.origin}/api`;
  }

  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  /** The first guild and its first channel: where interactions happen by default. */
  get guild(): FakeGuild {
    return at(this.guilds, 0);
  }

  get channelId(): string {
    return at(this.guild.channels, 0).id;
  }

  /** Makes a user with a fresh snowflake id (and remembers it for resolved data and mentions). */
  user(username: string, extra: Omit<FakeUser, 'id' | 'username'> = {}): FakeUser {
    const u: FakeUser = { id: snowflake(), username, ...extra };
    this.users.set(u.id, u);
    return u;
  }

  /** Adds a rule consulted before the default handling, first added first; returns its remover. */
  onRequest(rule: RequestRule): () => void {
    this.rules.push(rule);
    return () => {
      const i = this.rules.indexOf(rule);
      if (i >= 0) this.rules.splice(i, 1);
    };
  }

  /**
   * Holds the next request matching `predicate` for `ms` before handling it, as a Discord
   * that is slow to answer would. Resolves with the request when it arrives (the hold begins).
   * A client that hangs up during the hold gets no answer and the request has no effect
   * (its `response` stays unset).
   */
  holdNext(predicate: (r: RecordedRequest) => boolean, ms: number): Promise<RecordedRequest> {
    return new Promise((resolve) => this.holds.push({ predicate, ms, onHeld: resolve }));
  }

  /** Resolves with the first request (already received or later) matching the predicate, once answered. */
  waitForRequest(predicate: (r: RecordedRequest) => boolean, timeoutMs = 10_000): Promise<RecordedRequest> {
    const found = this.requests.find((r) => r.response !== undefined && predicate(r));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requestWaiters.delete(waiter);
        reject(new Error(`no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: RecordedRequest) => {
        if (!predicate(r)) return;
        clearTimeout(timer);
        this.requestWaiters.delete(waiter);
        resolve(r);
      };
      this.requestWaiters.add(waiter);
    });
  }

  /** Resolves once a gateway client has identified on every shard. */
  waitForReady(timeoutMs = 10_000): Promise<void> {
    return this.gateway.waitForReady(timeoutMs);
  }

  /** Registered commands: global ones, or a guild's. */
  commands(guildId?: string): Json[] {
    return guildId === undefined ? [...this.globalCommands] : [...(this.guildCommands.get(guildId) ?? [])];
  }

  /** A user runs a slash command (waits up to 10 s for a connected bot). */
  async sendCommand(input: CommandInput): Promise<InteractionHandle> {
    return this.dispatchInteraction(commandPayload(this.context(), input, InteractionType.Command, newInteractionToken()));
  }

  /** A user types into an autocomplete option; the answer is the type 8 callback. */
  async sendAutocomplete(input: AutocompleteInput): Promise<InteractionHandle> {
    return this.dispatchInteraction(
      commandPayload(this.context(), input, InteractionType.Autocomplete, newInteractionToken(), input.focused),
    );
  }

  /** A user clicks a button on a stored message. Throws if the message has no such button unless `unchecked`. */
  async clickButton(input: ClickInput): Promise<InteractionHandle> {
    if (!input.unchecked && !hasButton(input.message, input.customId)) {
      throw new Error(`message ${input.message.id} has no enabled button with custom_id ${input.customId}`);
    }
    const payload = clickPayload(this.context(), input, this.messages.toJson(input.message), newInteractionToken());
    return this.dispatchInteraction(payload, input.message.id);
  }

  /** The modal a command or click was answered with (callback type 9); undefined when it was answered otherwise. */
  modalOf(handle: InteractionHandle): Json {
    const state = this.interactionsById.get(handle.id);
    return state?.callback?.type === 9 ? state.callback.request.json?.data : undefined;
  }

  /** A user submits the modal that `input.opened` was answered with. */
  async submitModal(input: ModalSubmitInput): Promise<InteractionHandle> {
    const opener = this.interactionsById.get(input.opened.id);
    const modal = opener === undefined ? undefined : this.modalOf(input.opened);
    if (opener === undefined || modal === undefined) throw new Error('that interaction was not answered with a modal');
    const message = opener.componentMessageId === null ? null : this.messages.toJson(this.messages.get(opener.componentMessageId)!);
    const payload = modalSubmitPayload(this.context(), input, modal, opener.payload, newInteractionToken(), message);
    return this.dispatchInteraction(payload, opener.componentMessageId);
  }

  /** Invalidates an interaction token now: later webhook calls with it get 401 {code: 50027}. */
  expireInteractionToken(token: string): void {
    const state = this.interactionsByToken.get(token);
    if (!state) throw new Error('unknown interaction token');
    state.expired = true;
  }

  /**
   * While on, every interaction callback is answered 404 {code: 10062, "Unknown interaction"},
   * as Discord answers one that comes too late or for an interaction it no longer knows.
   */
  failInteractionCallbacks(on: boolean): void {
    this.callbacksFail = on;
  }

  /** The server-side state of an interaction, by id or token. */
  interaction(idOrToken: string): InteractionState | undefined {
    return this.interactionsById.get(idOrToken) ?? this.interactionsByToken.get(idOrToken);
  }

  async close(): Promise<void> {
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private context(): Context {
    return {
      applicationId: this.applicationId,
      guilds: this.guilds,
      users: this.users,
      dmChannels: this.dmChannels,
      findCommand: (name, guildId) =>
        (guildId ? this.guildCommands.get(guildId)?.find((c) => c.name === name) : undefined) ??
        this.globalCommands.find((c) => c.name === name),
      addUpload: (file) => {
        const id = snowflake();
        this.uploads.set(id, file);
        return { id, url: `${this.origin}/ephemeral-attachments/${this.applicationId}/${id}/${encodeURIComponent(file.filename)}` };
      },
    };
  }

  /** Files users attached to slash commands, by attachment id. */
  private readonly uploads = new Map<string, UploadInput>();

  private serveUpload(pathname: string, res: ServerResponse): void {
    const [, , , id] = pathname.split('/');
    const file = this.uploads.get(id ?? '');
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.contentType ?? 'application/octet-stream', 'content-length': file.data.length });
    res.end(file.data);
  }

  private async dispatchInteraction(payload: Json, componentMessageId: string | null = null): Promise<InteractionHandle> {
    await this.gateway.waitForReady();
    const state: InteractionState = {
      id: payload.id,
      token: payload.token,
      type: payload.type,
      channelId: payload.channel_id,
      guildId: payload.guild_id ?? null,
      user: this.users.get(payload.member?.user?.id ?? payload.user?.id)!,
      payload,
      sentAt: now(),
      componentMessageId,
      callback: null,
      originalMessageId: null,
      followUpIds: [],
      expired: false,
      callbackWaiters: new Set(),
    };
    this.interactionsById.set(state.id, state);
    this.interactionsByToken.set(state.token, state);
    this.gateway.dispatch('INTERACTION_CREATE', payload);
    return {
      id: state.id,
      token: state.token,
      sentAt: state.sentAt,
      payload,
      response: (timeoutMs = 10_000) => {
        if (state.callback) return Promise.resolve(state.callback.request);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            state.callbackWaiters.delete(waiter);
            reject(new Error(`interaction ${state.id} got no response within ${timeoutMs} ms`));
          }, timeoutMs);
          const waiter = (r: RecordedRequest) => {
            clearTimeout(timer);
            state.callbackWaiters.delete(waiter);
            resolve(r);
          };
          state.callbackWaiters.add(waiter);
        });
      },
      original: () => (state.originalMessageId ? this.messages.get(state.originalMessageId) : undefined),
      followUps: () => state.followUpIds.map((id) => this.messages.get(id)!),
    };
  }

  // ---------------------------------------------------------------- HTTP

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = now();
    const url = new URL(req.url ?? '/', this.origin);
    if (req.method === 'GET' && url.pathname.startsWith('/attachments/')) {
      this.serveAttachment(url.pathname, res);
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/ephemeral-attachments/')) {
      this.serveUpload(url.pathname, res);
      return;
    }
    let recorded: RecordedRequest | undefined;
    let reply: Reply;
    try {
      const body = await readBody(req);
      const { json: parsed, files } = await parseBody(req.headers['content-type'] ?? '', body);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : (v ?? '');
      recorded = {
        method: req.method ?? 'GET',
        // Decoded, so tests can match `@original` (clients send it as %40original).
        path: decodeURIComponent(url.pathname).replace(/^\/api\/v10(?=\/)/, ''),
        query: Object.fromEntries(url.searchParams),
        headers,
        json: parsed,
        files,
        receivedAt,
      };
      this.requests.push(recorded);
      const hold = this.holds.find((h) => h.predicate(recorded!));
      if (hold !== undefined) {
        this.holds.splice(this.holds.indexOf(hold), 1);
        let clientGone = false;
        res.once('close', () => (clientGone = true));
        hold.onHeld(recorded);
        await new Promise((r) => setTimeout(r, hold.ms));
        if (clientGone) return;
      }
      reply = this.answer(recorded, url.pathname);
    } catch (error) {
      reply =
        error instanceof DiscordApiError
          ? json(error.toJson(), error.status)
          : json({ code: 0, message: `500: ${(error as Error).message}` }, 500);
    }
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    if (reply.status === 429 && reply.json?.retry_after !== undefined && !hasHeader(headers, 'retry-after')) {
      headers['retry-after'] = String(reply.json.retry_after);
      if (!hasHeader(headers, 'x-ratelimit-scope')) headers['x-ratelimit-scope'] = 'user';
    }
    if (reply.json !== undefined && reply.status !== 204) {
      res.writeHead(reply.status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(reply.json));
    } else {
      res.writeHead(reply.status, headers);
      res.end();
    }
    if (recorded) {
      recorded.response = { status: reply.status, json: reply.json ?? null };
      for (const waiter of [...this.requestWaiters]) waiter(recorded);
    }
  }

  private answer(req: RecordedRequest, rawPath: string): Reply {
    for (const rule of this.rules) {
      const ruled = rule(req);
      if (ruled) return ruled;
    }
    if (!rawPath.startsWith('/api/v10/')) return json({ code: 0, message: '404: Not Found' }, 404);
    for (const route of this.routes) {
      if (route.method !== req.method) continue;
      const match = route.pattern.exec(req.path);
      if (!match) continue;
      if (route.botAuth && req.headers.authorization !== `Bot ${this.botToken}`)
        return json({ code: 0, message: '401: Unauthorized' }, 401);
      return route.handler(req, match.slice(1));
    }
    return json({ code: 0, message: '404: Not Found' }, 404);
  }

  private serveAttachment(pathname: string, res: ServerResponse): void {
    const [, , channelId, attachmentId] = pathname.split('/');
    const attachment = this.messages.attachment(channelId ?? '', attachmentId ?? '');
    if (!attachment) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': attachment.contentType, 'content-length': attachment.size });
    res.end(attachment.data);
  }

  // ---------------------------------------------------------------- REST routes

  private buildRoutes(): Route[] {
    const r = <P extends string>(
      method: string,
      path: P,
      botAuth: boolean,
      handler: (req: RecordedRequest, params: PathParams<P>) => Reply,
    ): Route => ({
      method,
      pattern: new RegExp(`^${path.replace(/:[a-z]+/g, '([^/]+)')}$`),
      botAuth,
      // The pattern has one capture group per `:name` segment, so a match gives exactly PathParams<P>.
      handler: (req, params) => handler(req, params as PathParams<P>),
    });
    const app = () => this.applicationId;
    return [
      r('GET', '/gateway', false, () => json({ url: this.gatewayUrl })),
      r('GET', '/gateway/bot', true, () =>
        json({
          url: this.gatewayUrl,
          shards: this.recommendedShards,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: this.maxConcurrency },
        }),
      ),
      r('GET', '/users/@me', true, () =>
        json({ ...userJson({ id: app(), username: this.botUsername }), bot: true, discriminator: '0000' }),
      ),
      r('GET', '/applications/@me', true, () =>
        json({
          id: app(),
          name: this.botUsername,
          description: '',
          icon: null,
          bot_public: true,
          bot_require_code_grant: false,
          flags: 0,
          verify_key: '0'.repeat(64),
        }),
      ),
      r('GET', '/applications/:app/commands', true, (_req, [a]) => (a === app() ? json(this.globalCommands) : unknownApplication())),
      r('PUT', '/applications/:app/commands', true, (req, [a]) => this.putCommands(req, a, null)),
      r('PUT', '/applications/:app/guilds/:guild/commands', true, (req, [a, g]) => this.putCommands(req, a, g)),
      r('GET', '/applications/:app/guilds/:guild/commands', true, (_req, [a, g]) =>
        a === app() ? json(this.guildCommands.get(g) ?? []) : unknownApplication(),
      ),
      r('POST', '/interactions/:id/:token/callback', false, (req, [id, token]) => this.interactionCallback(req, id, token)),
      r('GET', '/webhooks/:app/:token/messages/:message', false, (_req, [a, token, m]) => {
        const { message } = this.webhookMessage(a, token, m);
        return json(this.messages.toJson(message));
      }),
      r('PATCH', '/webhooks/:app/:token/messages/:message', false, (req, [a, token, m]) => {
        const { message } = this.webhookMessage(a, token, m);
        validateMessageBody(req.json, req.files, this.maxUploadBytes);
        return json(this.messages.toJson(this.messages.edit(message, req.json, req.files)));
      }),
      r('DELETE', '/webhooks/:app/:token/messages/:message', false, (_req, [a, token, m]) => {
        const { message } = this.webhookMessage(a, token, m);
        this.messages.delete(message);
        return noContent();
      }),
      r('POST', '/webhooks/:app/:token', false, (req, [a, token]) => this.followUp(req, a, token)),
      r('POST', '/channels/:channel/messages', true, (req, [c]) => {
        const guildId = this.channelGuild(c);
        validateMessageBody(req.json, req.files, this.maxUploadBytes);
        if (isEmptyMessage(req.json, req.files)) throw new DiscordApiError(400, 50006, 'Cannot send an empty message');
        return json(this.messages.toJson(this.messages.create({ channelId: c, guildId, body: stripFlags(req.json), files: req.files })));
      }),
      r('GET', '/channels/:channel/messages/:message', true, (_req, [c, m]) => json(this.messages.toJson(this.channelMessage(c, m)))),
      r('PATCH', '/channels/:channel/messages/:message', true, (req, [c, m]) => {
        const message = this.channelMessage(c, m);
        validateMessageBody(req.json, req.files, this.maxUploadBytes);
        return json(this.messages.toJson(this.messages.edit(message, req.json, req.files)));
      }),
      r('DELETE', '/channels/:channel/messages/:message', true, (_req, [c, m]) => {
        this.messages.delete(this.channelMessage(c, m));
        return noContent();
      }),
    ];
  }

  private putCommands(req: RecordedRequest, appId: string, guildId: string | null): Reply {
    if (appId !== this.applicationId) return unknownApplication();
    if (!Array.isArray(req.json))
      throw new DiscordApiError(400, 50035, 'Invalid Form Body', { _errors: [{ code: 'BASE_TYPE_ARRAY', message: 'Expected an array.' }] });
    const previous = guildId ? (this.guildCommands.get(guildId) ?? []) : this.globalCommands;
    const stored = req.json.map((cmd: Json, i: number) => {
      validateCommand(cmd, i);
      const old = previous.find((c) => c.name === cmd.name);
      return {
        id: old?.id ?? snowflake(),
        application_id: this.applicationId,
        version: snowflake(),
        type: cmd.type ?? 1,
        default_member_permissions: cmd.default_member_permissions ?? null,
        nsfw: cmd.nsfw ?? false,
        ...cmd,
        ...(guildId ? { guild_id: guildId } : {}),
      };
    });
    if (guildId) {
      if (!this.guilds.some((g) => g.id === guildId)) throw new DiscordApiError(404, 10004, 'Unknown Guild');
      this.guildCommands.set(guildId, stored);
    } else {
      this.globalCommands.splice(0, this.globalCommands.length, ...stored);
    }
    return json(stored);
  }

  private interactionCallback(req: RecordedRequest, id: string, token: string): Reply {
    const state = this.interactionsById.get(id);
    if (
      !state ||
      state.token !== token ||
      this.callbacksFail ||
      (state.callback === null && req.receivedAt - state.sentAt > this.deadlineMs)
    ) {
      throw new DiscordApiError(404, 10062, 'Unknown interaction');
    }
    if (state.callback) throw new DiscordApiError(400, 40060, 'Interaction has already been acknowledged.');
    const type = req.json?.type;
    const data = req.json?.data ?? {};
    const isComponent = state.type === InteractionType.Component;
    const isAutocomplete = state.type === InteractionType.Autocomplete;
    const isModalSubmit = state.type === InteractionType.ModalSubmit;
    // A modal cannot answer a modal submit; a submit from a message may update that message.
    const allowed = isAutocomplete
      ? [8]
      : isComponent
        ? [4, 5, 6, 7, 9]
        : isModalSubmit
          ? state.componentMessageId === null
            ? [4, 5]
            : [4, 5, 6, 7]
          : [4, 5, 9];
    if (!allowed.includes(type))
      throw new DiscordApiError(400, 50035, 'Invalid Form Body', {
        type: { _errors: [{ code: 'INTERACTION_RESPONSE_TYPE_INVALID', message: 'Interaction response type is invalid' }] },
      });
    const metadata = interactionMetadata(state);
    let message: StoredMessage | undefined;
    if (type === 4 || type === 5) {
      if (type === 4) {
        validateMessageBody(data, req.files, this.maxUploadBytes);
        if (isEmptyMessage(data, req.files)) throw new DiscordApiError(400, 50006, 'Cannot send an empty message');
      }
      const body = type === 4 ? data : { content: '', flags: data.flags };
      message = this.messages.create({
        channelId: state.channelId,
        guildId: state.guildId,
        body,
        files: type === 4 ? req.files : [],
        flags: type === 5 ? MessageFlags.Loading : 0,
        interactionToken: state.token,
        interactionMetadata: metadata,
      });
    } else if (type === 6 || type === 7) {
      message = this.messages.get(state.componentMessageId!);
      if (type === 7 && message) {
        validateMessageBody(data, req.files, this.maxUploadBytes);
        this.messages.edit(message, data, req.files);
      }
    } else if (type === 9) {
      validateModal(data);
    } else if (type === 8) {
      const choices = data.choices;
      if (!Array.isArray(choices) || choices.length > 25) {
        throw new DiscordApiError(400, 50035, 'Invalid Form Body', {
          data: { choices: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' }] } },
        });
      }
    }
    state.callback = { type, at: req.receivedAt, request: req };
    state.originalMessageId = message?.id ?? null;
    for (const waiter of [...state.callbackWaiters]) waiter(req);
    if (req.query.with_response !== 'true') return noContent();
    return json({
      interaction: {
        id: state.id,
        type: state.type,
        response_message_id: message?.id,
        response_message_loading: type === 5,
        response_message_ephemeral: message ? (message.flags & MessageFlags.Ephemeral) !== 0 : false,
      },
      resource: { type, ...(message && type !== 6 ? { message: this.messages.toJson(message) } : {}) },
    });
  }

  /** Validates a webhook token and finds `@original` or a follow-up message of it. */
  private webhookMessage(appId: string, token: string, messageId: string): { state: InteractionState; message: StoredMessage } {
    const state = this.webhookState(appId, token);
    const id =
      messageId === '@original' ? state.originalMessageId : [state.originalMessageId, ...state.followUpIds].find((x) => x === messageId);
    const message = id ? this.messages.get(id) : undefined;
    if (!message || message.deleted) throw new DiscordApiError(404, 10008, 'Unknown Message');
    return { state, message };
  }

  private webhookState(appId: string, token: string): InteractionState {
    const state = this.interactionsByToken.get(token);
    if (appId !== this.applicationId || !state) throw new DiscordApiError(404, 10015, 'Unknown Webhook');
    if (state.expired || now() - state.sentAt > this.tokenLifetimeMs) throw new DiscordApiError(401, 50027, 'Invalid Webhook Token');
    if (!state.callback) throw new DiscordApiError(404, 10015, 'Unknown Webhook');
    return state;
  }

  private followUp(req: RecordedRequest, appId: string, token: string): Reply {
    const state = this.webhookState(appId, token);
    validateMessageBody(req.json, req.files, this.maxUploadBytes);
    if (isEmptyMessage(req.json, req.files)) throw new DiscordApiError(400, 50006, 'Cannot send an empty message');
    const original = state.originalMessageId ? this.messages.get(state.originalMessageId) : undefined;
    let message: StoredMessage;
    if (original && !original.deleted && (original.flags & MessageFlags.Loading) !== 0) {
      // Discord: the first follow-up to a deferred response replaces the loading message.
      message = this.messages.edit(original, stripFlags(req.json), req.files);
    } else {
      message = this.messages.create({
        channelId: state.channelId,
        guildId: state.guildId,
        body: req.json,
        files: req.files,
        interactionToken: state.token,
        interactionMetadata: interactionMetadata(state),
      });
      state.followUpIds.push(message.id);
    }
    return req.query.wait === 'false' ? noContent() : json(this.messages.toJson(message));
  }

  /** The guild of a channel the bot can post in (guild channels and DM channels of users seen). */
  private channelGuild(channelId: string): string | null {
    for (const g of this.guilds) if (g.channels.some((c) => c.id === channelId)) return g.id;
    if ([...this.dmChannels.values()].includes(channelId)) return null;
    throw new DiscordApiError(404, 10003, 'Unknown Channel');
  }

  private channelMessage(channelId: string, messageId: string): StoredMessage {
    this.channelGuild(channelId);
    const message = this.messages.get(messageId);
    if (!message || message.deleted || message.channelId !== channelId || (message.flags & MessageFlags.Ephemeral) !== 0) {
      throw new DiscordApiError(404, 10008, 'Unknown Message');
    }
    return message;
  }
}

/** Starts a local Discord API server on 127.0.0.1 with an ephemeral port. */
export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const discord = new FakeDiscord(options);
  await discord.listen();
  return discord;
}

/** The `interaction_metadata` of messages created by an interaction's response and follow-ups. */
function interactionMetadata(state: InteractionState): Json {
  return {
    id: state.id,
    type: state.type,
    user: userJson(state.user),
    authorizing_integration_owners: state.payload.authorizing_integration_owners,
    ...(state.type === InteractionType.Component
      ? { interacted_message_id: state.componentMessageId }
      : { name: state.payload.data?.name }),
  };
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function unknownApplication(): Reply {
  return json({ code: 10002, message: 'Unknown Application' }, 404);
}

function isEmptyMessage(body: Json, files: UploadedFile[]): boolean {
  const b = body ?? {};
  const has = (v: unknown) => (Array.isArray(v) ? v.length > 0 : typeof v === 'string' ? v.length > 0 : v !== undefined && v !== null);
  return !has(b.content) && !has(b.embeds) && !has(b.components) && !has(b.sticker_ids) && !has(b.poll) && files.length === 0;
}

/** Channel messages cannot be ephemeral; Discord ignores the flag there. */
function stripFlags(body: Json): Json {
  if (body === null || typeof body !== 'object') return body;
  const { flags: _flags, ...rest } = body;
  return rest;
}

const COMMAND_NAME = /^[-_\p{L}\p{N}]{1,32}$/u;

function validateCommand(cmd: Json, index: number): void {
  const fail = (message: string) =>
    new DiscordApiError(400, 50035, 'Invalid Form Body', { [index]: { _errors: [{ code: 'APPLICATION_COMMAND_INVALID', message }] } });
  if (typeof cmd?.name !== 'string' || !COMMAND_NAME.test(cmd.name) || cmd.name !== cmd.name.toLowerCase())
    throw fail(`invalid command name ${JSON.stringify(cmd?.name)}`);
  if ((cmd.type ?? 1) === 1 && (typeof cmd.description !== 'string' || cmd.description.length < 1 || cmd.description.length > 100)) {
    throw fail(`command ${cmd.name}: description must be 1-100 characters`);
  }
  const checkOptions = (options: Json, where: string) => {
    if (options === undefined) return;
    if (!Array.isArray(options) || options.length > 25) throw fail(`${where}: at most 25 options`);
    let seenOptional = false;
    for (const o of options) {
      if (typeof o?.name !== 'string' || !COMMAND_NAME.test(o.name) || o.name !== o.name.toLowerCase())
        throw fail(`${where}: invalid option name ${JSON.stringify(o?.name)}`);
      if (typeof o.description !== 'string' || o.description.length < 1 || o.description.length > 100)
        throw fail(`${where}.${o.name}: description must be 1-100 characters`);
      if (o.choices !== undefined && (!Array.isArray(o.choices) || o.choices.length > 25))
        throw fail(`${where}.${o.name}: at most 25 choices`);
      if (o.choices !== undefined && o.autocomplete) throw fail(`${where}.${o.name}: choices and autocomplete exclude each other`);
      if (o.type === 1 || o.type === 2) {
        checkOptions(o.options, `${where}.${o.name}`);
        continue;
      }
      if (o.required && seenOptional) throw fail(`${where}.${o.name}: required options must come before optional ones`);
      if (!o.required) seenOptional = true;
    }
  };
  checkOptions(cmd.options, cmd.name);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw new DiscordApiError(413, 40005, 'Request entity too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function parseBody(contentType: string, body: Buffer): Promise<{ json: Json; files: UploadedFile[] }> {
  if (body.length === 0) return { json: null, files: [] };
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
    let parsed: Json = null;
    const files: Array<{ index: number; file: UploadedFile }> = [];
    for (const [name, value] of form.entries()) {
      if (name === 'payload_json' && typeof value === 'string') {
        parsed = JSON.parse(value);
      } else if (typeof value !== 'string') {
        const index = /^files\[(\d+)\]$/.exec(name);
        if (!index)
          throw new DiscordApiError(400, 50035, 'Invalid Form Body', {
            [name]: { _errors: [{ code: 'UNKNOWN_FIELD', message: 'Unknown form field' }] },
          });
        files.push({
          index: Number(index[1]),
          file: { name: value.name, contentType: value.type || 'application/octet-stream', data: Buffer.from(await value.arrayBuffer()) },
        });
      }
    }
    // files[n] indexes must line up with attachments[].id, so keep them at their index.
    const ordered: UploadedFile[] = [];
    for (const { index, file } of files) ordered[index] = file;
    return { json: parsed, files: ordered.filter((f) => f !== undefined) };
  }
  try {
    return { json: JSON.parse(body.toString('utf8')), files: [] };
  } catch {
    throw new DiscordApiError(400, 50109, 'The request body contains invalid JSON.');
  }
}

/** Discord's checks of a modal (callback type 9): what a real client would refuse to show. */
function validateModal(data: Json): void {
  const invalid = (message: string) =>
    new DiscordApiError(400, 50035, 'Invalid Form Body', { data: { _errors: [{ code: 'MODAL_INVALID', message }] } });
  if (typeof data?.custom_id !== 'string' || data.custom_id.length === 0 || data.custom_id.length > 100)
    throw invalid('custom_id must be 1-100 characters');
  if (typeof data.title !== 'string' || data.title.length === 0 || data.title.length > 45) throw invalid('title must be 1-45 characters');
  const components: Json[] = Array.isArray(data.components) ? data.components : [];
  if (components.length === 0 || components.length > 5) throw invalid('a modal has 1-5 components');
  for (const c of components) {
    if (c?.type === 18) {
      if (typeof c.label !== 'string' || c.label.length === 0 || c.label.length > 45) throw invalid('a label is 1-45 characters');
      const inner = c.component;
      if (inner?.type !== 4 && inner?.type !== 3) throw invalid('a label holds a text input or a string select');
      if (typeof inner.custom_id !== 'string' || inner.custom_id.length > 100) throw invalid('a field needs a custom_id');
      if (inner.type === 4 && inner.value !== undefined && String(inner.value).length > (inner.max_length ?? 4000))
        throw invalid('a prefilled value is longer than its max_length');
      if (inner.type === 3 && (!Array.isArray(inner.options) || inner.options.length === 0 || inner.options.length > 25))
        throw invalid('a select has 1-25 options');
    } else if (c?.type !== 1) {
      throw invalid('modal components are labels (18) or action rows (1)');
    }
  }
}
