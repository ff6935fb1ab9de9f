// The gateway websocket, as discord.js v14 (@discordjs/ws) expects it: plain JSON text
// frames (no zlib), HELLO -> IDENTIFY -> READY (guilds unavailable) -> GUILD_CREATE per
// guild, heartbeats acknowledged, RESUME answered with RESUMED. Sharded like Discord: the
// IDENTIFY's `shard: [id, count]` (default [0, 1]) gets the guilds with
// (guild_id >> 22) % count === id, and a guild's events go to the most recently identified
// session of its shard; events outside a guild (DMs) go to shard 0.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FakeGuild, Json } from './types.js';

const Op = { Dispatch: 0, Heartbeat: 1, Identify: 2, Resume: 6, Reconnect: 7, InvalidSession: 9, Hello: 10, HeartbeatAck: 11 } as const;

export interface GatewayOptions {
  botToken: string;
  applicationId: string;
  botUsername: string;
  guilds: FakeGuild[];
  heartbeatIntervalMs: number;
  /** Full websocket URL of this gateway, for resume_gateway_url. */
  url: () => string;
}

export interface GatewaySession {
  id: string;
  socket: WebSocket;
  seq: number;
  identifiedAt: number;
  intents: number;
  /** [shard id, shard count] from IDENTIFY. */
  shard: [number, number];
  /** Names of the dispatches sent to this session, in order (READY, GUILD_CREATE, ...). */
  dispatched: string[];
}

/** The shard that receives a guild's events: Discord's formula (DMs: pass null, shard 0). */
export function shardOfGuild(guildId: string | null, shardCount: number): number {
  return guildId === null ? 0 : Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

export class FakeGateway {
  private readonly wss = new WebSocketServer({ noServer: true });
  /** Every identified session, oldest first; kept after a disconnect so the client can resume it. */
  readonly sessions: GatewaySession[] = [];
  private readonly readyWaiters = new Set<() => void>();
  /** Every payload clients sent, in order (IDENTIFY tokens included). */
  readonly received: Json[] = [];

  constructor(private readonly options: GatewayOptions) {
    this.wss.on('connection', (socket) => this.onConnection(socket));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/gateway' || url.searchParams.get('v') !== '10' || url.searchParams.get('encoding') !== 'json') {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  /**
   * Whether a client is connected on every shard: shards 0 to count - 1 of the shard count
   * the most recent IDENTIFY used each have an open session.
   */
  get ready(): boolean {
    const latest = this.sessions.at(-1);
    if (latest === undefined) return false;
    const count = latest.shard[1];
    return Array.from({ length: count }, (_, id) => id).every((id) => this.open().some((s) => s.shard[0] === id && s.shard[1] === count));
  }

  /** Resolves once a client is identified on every shard (immediately if it already is). */
  waitForReady(timeoutMs = 10_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(new Error(`no gateway client identified within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve();
      };
      this.readyWaiters.add(done);
    });
  }

  /**
   * Sends a dispatch event to the session of its shard (from `data.guild_id`; shard 0
   * without one); throws when no client is connected on that shard.
   */
  dispatch(event: string, data: Json): void {
    const guildId: string | null = data?.guild_id ?? null;
    const session = this.open()
      .reverse()
      .find((s) => s.shard[0] === shardOfGuild(guildId, s.shard[1]));
    if (!session)
      throw new Error(
        `cannot dispatch ${event}: no gateway client is connected on the shard of ${guildId === null ? 'DMs' : `guild ${guildId}`}`,
      );
    this.dispatchTo(session, event, data);
  }

  /** Asks every connected client to reconnect (op 7), as Discord does during maintenance. */
  requestReconnect(): void {
    for (const s of this.sessions) this.send(s, { op: Op.Reconnect, d: null });
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** Sessions whose socket is open, oldest first. */
  private open(): GatewaySession[] {
    return this.sessions.filter((s) => s.socket.readyState === s.socket.OPEN);
  }

  private dispatchTo(session: GatewaySession, event: string, data: Json): void {
    session.dispatched.push(event);
    this.send(session, { op: Op.Dispatch, t: event, s: ++session.seq, d: data });
  }

  private send(session: GatewaySession | WebSocket, payload: Json): void {
    const socket = 'socket' in session ? session.socket : session;
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(payload));
  }

  private onConnection(socket: WebSocket): void {
    this.send(socket, { op: Op.Hello, d: { heartbeat_interval: this.options.heartbeatIntervalMs } });
    socket.on('message', (raw) => {
      let payload: Json;
      try {
        // ws hands a text frame over as a Buffer, an ArrayBuffer or fragments, by its binaryType.
        payload = JSON.parse(new TextDecoder().decode(Array.isArray(raw) ? Buffer.concat(raw) : raw));
      } catch {
        socket.close(4002, 'Error while decoding payload.');
        return;
      }
      this.received.push(payload);
      this.onPayload(socket, payload);
    });
  }

  private onPayload(socket: WebSocket, payload: Json): void {
    switch (payload?.op) {
      case Op.Heartbeat:
        this.send(socket, { op: Op.HeartbeatAck });
        return;
      case Op.Identify:
        this.identify(socket, payload.d);
        return;
      case Op.Resume: {
        const session = this.sessions.find((s) => s.id === payload.d?.session_id);
        if (!session || payload.d?.token !== this.options.botToken) {
          this.send(socket, { op: Op.InvalidSession, d: false });
          return;
        }
        session.socket = socket;
        this.dispatchTo(session, 'RESUMED', {});
        return;
      }
      default:
        // Presence updates, voice state, member requests: accepted and ignored.
        return;
    }
  }

  private identify(socket: WebSocket, d: Json): void {
    if (d?.token !== this.options.botToken) {
      socket.close(4004, 'Authentication failed.');
      return;
    }
    const shard: [number, number] = Array.isArray(d.shard) ? [Number(d.shard[0]), Number(d.shard[1])] : [0, 1];
    if (!shard.every(Number.isInteger) || shard[1] < 1 || shard[0] < 0 || shard[0] >= shard[1]) {
      socket.close(4010, 'Invalid shard.');
      return;
    }
    const session: GatewaySession = {
      id: randomUUID().replaceAll('-', ''),
      socket,
      seq: 0,
      identifiedAt: Date.now(),
      intents: Number(d.intents ?? 0),
      shard,
      dispatched: [],
    };
    this.sessions.push(session);
    const { applicationId, botUsername } = this.options;
    const guilds = this.options.guilds.filter((g) => shardOfGuild(g.id, shard[1]) === shard[0]);
    this.dispatchTo(session, 'READY', {
      v: 10,
      user: {
        id: applicationId,
        username: botUsername,
        global_name: null,
        discriminator: '0000',
        avatar: null,
        bot: true,
        verified: true,
        mfa_enabled: false,
        flags: 0,
      },
      guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
      session_id: session.id,
      session_type: 'normal',
      resume_gateway_url: this.options.url(),
      shard,
      application: { id: applicationId, flags: 0 },
      private_channels: [],
      relationships: [],
      presences: [],
      guild_join_requests: [],
      geo_ordered_rtc_regions: [],
      user_settings: {},
      _trace: ['["local-discord",{"micros":0}]'],
    });
    for (const guild of guilds) this.dispatchTo(session, 'GUILD_CREATE', guildCreatePayload(guild, applicationId));
    if (this.ready) for (const waiter of [...this.readyWaiters]) waiter();
  }
}

const EVERYONE_PERMISSIONS = '2147601408'; // view, send, embed, attach, read history, use application commands

function guildCreatePayload(guild: FakeGuild, applicationId: string): Json {
  const role = (id: string, name: string, position: number) => ({
    id,
    name,
    permissions: EVERYONE_PERMISSIONS,
    position,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    managed: false,
    mentionable: false,
    icon: null,
    unicode_emoji: null,
    flags: 0,
  });
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: applicationId,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    roles: [role(guild.id, '@everyone', 0), ...guild.roles.map((id, i) => role(id, `role-${i + 1}`, i + 1))],
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    preferred_locale: 'en-US',
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    joined_at: new Date().toISOString(),
    large: false,
    unavailable: false,
    member_count: 1,
    voice_states: [],
    members: [],
    channels: guild.channels.map((c, i) => ({
      id: c.id,
      type: 0,
      name: c.name,
      position: i,
      permission_overwrites: [],
      parent_id: null,
      nsfw: false,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
    })),
    threads: [],
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}
