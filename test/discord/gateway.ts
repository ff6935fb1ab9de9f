// The gateway websocket, as discord.js v14 (@discordjs/ws) expects it: plain JSON text
// frames (no zlib), HELLO -> IDENTIFY -> READY (guilds unavailable) -> GUILD_CREATE per
// guild, heartbeats acknowledged, RESUME answered with RESUMED. Dispatches go to the most
// recently identified session, the way one shard receives an interaction.
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

interface Session {
  id: string;
  socket: WebSocket;
  seq: number;
  identifiedAt: number;
  intents: number;
}

export class FakeGateway {
  private readonly wss = new WebSocketServer({ noServer: true });
  /** Every identified session; kept after a disconnect so the client can resume it. */
  private readonly sessions: Session[] = [];
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

  /** Whether some client has identified and is still connected. */
  get ready(): boolean {
    return this.current() !== undefined;
  }

  /** Resolves once a client is identified (immediately if one already is). */
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

  /** Sends a dispatch event to the current session; throws when no client is connected. */
  dispatch(event: string, data: Json): void {
    const session = this.current();
    if (!session) throw new Error(`cannot dispatch ${event}: no gateway client is connected`);
    this.send(session, { op: Op.Dispatch, t: event, s: ++session.seq, d: data });
  }

  /** Asks every connected client to reconnect (op 7), as Discord does during maintenance. */
  requestReconnect(): void {
    for (const s of this.sessions) this.send(s, { op: Op.Reconnect, d: null });
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private current(): Session | undefined {
    for (let i = this.sessions.length - 1; i >= 0; i--) {
      if (this.sessions[i].socket.readyState === this.sessions[i].socket.OPEN) return this.sessions[i];
    }
    return undefined;
  }

  private send(session: Session | WebSocket, payload: Json): void {
    const socket = 'socket' in session ? session.socket : session;
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(payload));
  }

  private onConnection(socket: WebSocket): void {
    this.send(socket, { op: Op.Hello, d: { heartbeat_interval: this.options.heartbeatIntervalMs } });
    socket.on('message', (raw) => {
      let payload: Json;
      try {
        payload = JSON.parse(raw.toString());
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
        this.send(session, { op: Op.Dispatch, t: 'RESUMED', s: ++session.seq, d: {} });
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
    const session: Session = { id: randomUUID().replaceAll('-', ''), socket, seq: 0, identifiedAt: Date.now(), intents: Number(d.intents ?? 0) };
    this.sessions.push(session);
    const { applicationId, botUsername, guilds } = this.options;
    this.send(session, {
      op: Op.Dispatch,
      t: 'READY',
      s: ++session.seq,
      d: {
        v: 10,
        user: { id: applicationId, username: botUsername, global_name: null, discriminator: '0000', avatar: null, bot: true, verified: true, mfa_enabled: false, flags: 0 },
        guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
        session_id: session.id,
        session_type: 'normal',
        resume_gateway_url: this.options.url(),
        shard: d.shard ?? [0, 1],
        application: { id: applicationId, flags: 0 },
        private_channels: [],
        relationships: [],
        presences: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
        user_settings: {},
        _trace: ['["local-discord",{"micros":0}]'],
      },
    });
    for (const guild of guilds) this.send(session, { op: Op.Dispatch, t: 'GUILD_CREATE', s: ++session.seq, d: guildCreatePayload(guild, applicationId) });
    for (const waiter of [...this.readyWaiters]) waiter();
  }
}

const EVERYONE_PERMISSIONS = '2147601408'; // view, send, embed, attach, read history, use application commands

function guildCreatePayload(guild: FakeGuild, applicationId: string): Json {
  const role = (id: string, name: string, position: number) => ({
    id, name, permissions: EVERYONE_PERMISSIONS, position, color: 0, colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false, managed: false, mentionable: false, icon: null, unicode_emoji: null, flags: 0,
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
    channels: guild.channels.map((c, i) => ({ id: c.id, type: 0, name: c.name, position: i, permission_overwrites: [], parent_id: null, nsfw: false, topic: null, last_message_id: null, rate_limit_per_user: 0 })),
    threads: [],
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}
