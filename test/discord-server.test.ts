// Self-test of the local Discord API server: raw REST answers, and a real discord.js
// client logging in over the gateway, receiving an interaction and replying to it.
import { REST } from '@discordjs/rest';
import { Client, Events, GatewayIntentBits, MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { startFakeDiscord, type FakeDiscord } from './discord/server.js';

let discord: FakeDiscord;

beforeEach(async () => {
  discord = await startFakeDiscord();
});

afterEach(async () => {
  await discord.close();
});

async function raw(method: string, path: string, body?: unknown, auth = true): Promise<{ status: number; json: any }> {
  const res = await fetch(`${discord.apiBase}/v10${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: `Bot ${discord.botToken}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Answers interactions by hand over REST, without a gateway client: enough for REST-only checks. */
async function acknowledge(interactionId: string, token: string, body: unknown): Promise<{ status: number; json: any }> {
  return raw('POST', `/interactions/${interactionId}/${token}/callback?with_response=true`, body, false);
}

describe('REST', () => {
  it('answers the gateway and identity routes and refuses a wrong bot token', async () => {
    const gateway = await raw('GET', '/gateway/bot');
    expect(gateway.status).toBe(200);
    expect(gateway.json.url).toBe(discord.gatewayUrl);
    expect(gateway.json.session_start_limit.max_concurrency).toBe(1);
    expect((await raw('GET', '/users/@me')).json).toMatchObject({ id: discord.applicationId, bot: true });
    const res = await fetch(`${discord.apiBase}/v10/users/@me`, { headers: { authorization: 'Bot wrong' } });
    expect(res.status).toBe(401);
    expect(discord.requests.map((r) => r.path)).toEqual(['/gateway/bot', '/users/@me', '/users/@me']);
  });

  it('stores channel messages with multipart files, applies the v10 attachment rule on edits, and 404s unknown ones', async () => {
    const rest = new REST({ api: discord.apiBase }).setToken(discord.botToken);
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000080000000600806000000', 'hex');
    const created: any = await rest.post(`/channels/${discord.channelId}/messages`, {
      body: { content: 'hello', attachments: [{ id: 0, filename: 'a.png' }] },
      files: [{ name: 'a.png', data: png, contentType: 'image/png' }],
    });
    expect(created.attachments).toHaveLength(1);
    expect(created.attachments[0]).toMatchObject({ filename: 'a.png', width: 128, height: 96, size: png.length });
    expect(Buffer.from(await (await fetch(created.attachments[0].url)).arrayBuffer())).toEqual(png);

    // Without `attachments`, new files are appended; with it, the message keeps exactly the listed ones.
    await rest.patch(`/channels/${discord.channelId}/messages/${created.id}`, { files: [{ name: 'b.png', data: png }] });
    expect(discord.messages.get(created.id)!.attachments.map((a) => a.filename)).toEqual(['a.png', 'b.png']);
    await rest.patch(`/channels/${discord.channelId}/messages/${created.id}`, {
      body: { attachments: [{ id: 0 }] },
      files: [{ name: 'c.png', data: png }],
    });
    expect(discord.messages.get(created.id)!.attachments.map((a) => a.filename)).toEqual(['c.png']);
    expect(discord.messages.get(created.id)!.edits).toHaveLength(2);

    const missing = await raw('PATCH', `/channels/${discord.channelId}/messages/1234567890123456789`, { content: 'x' });
    expect(missing).toEqual({ status: 404, json: { code: 10008, message: 'Unknown Message' } });
    const tooLong = await raw('POST', `/channels/${discord.channelId}/messages`, { content: 'x'.repeat(2001) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.code).toBe(50035);
  });

  it('lets rules replace answers, e.g. a 429 that @discordjs/rest waits out and retries', async () => {
    let patches = 0;
    discord.onRequest((req) =>
      req.method === 'POST' && req.path.endsWith('/messages') && ++patches === 1
        ? { status: 429, json: { message: 'You are being rate limited.', retry_after: 0.05, global: false } }
        : undefined,
    );
    const rest = new REST({ api: discord.apiBase }).setToken(discord.botToken);
    const message: any = await rest.post(`/channels/${discord.channelId}/messages`, { body: { content: 'after 429' } });
    expect(message.content).toBe('after 429');
    expect(discord.requests.filter((r) => r.path.endsWith('/messages')).map((r) => r.response?.status)).toEqual([429, 200]);
  });

  it('registers commands and validates their shape', async () => {
    const ok = await raw('PUT', `/applications/${discord.applicationId}/commands`, [
      { name: 'ping', description: 'Ping', options: [{ type: 3, name: 'text', description: 'Text', required: true }] },
    ]);
    expect(ok.status).toBe(200);
    expect(ok.json[0]).toMatchObject({ name: 'ping', application_id: discord.applicationId });
    expect(discord.commands()).toHaveLength(1);
    const bad = await raw('PUT', `/applications/${discord.applicationId}/guilds/${discord.guild.id}/commands`, [
      { name: 'Bad Name', description: 'x' },
    ]);
    expect(bad.status).toBe(400);
  });
});

describe('interactions', () => {
  it('a real discord.js client logs in, receives a typed command and replies; webhook edits, expiry and deadlines behave like Discord', async () => {
    await raw('PUT', `/applications/${discord.applicationId}/commands`, [
      {
        name: 'echo',
        description: 'Echo',
        options: [
          { type: 3, name: 'text', description: 'Text', required: true },
          { type: 4, name: 'times', description: 'Times' },
        ],
      },
    ]);
    const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiBase } });
    const seen: ChatInputCommandInteraction[] = [];
    const replies: Promise<unknown>[] = [];
    client.on(Events.InteractionCreate, (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      seen.push(interaction);
      const text = interaction.options.getString('text', true);
      const times = interaction.options.getInteger('times') ?? 1;
      replies.push(interaction.reply({ content: text.repeat(times), flags: text === 'secret' ? MessageFlags.Ephemeral : undefined }));
    });
    const ready = new Promise((resolve) => client.once(Events.ClientReady, resolve));
    await client.login(discord.botToken);
    await ready;
    try {
      expect(client.user?.id).toBe(discord.applicationId);
      expect(client.guilds.cache.get(discord.guild.id)?.channels.cache.has(discord.channelId)).toBe(true);

      const user = discord.user('alice');
      const handle = await discord.sendCommand({ name: 'echo', options: { text: 'hi', times: 2 }, user });
      const callback = await handle.response();
      expect(callback.json).toMatchObject({ type: 4, data: { content: 'hihi' } });
      expect(callback.receivedAt - handle.sentAt).toBeLessThan(3000);
      expect(at(seen, 0).user.id).toBe(user.id);
      expect(at(seen, 0).guildId).toBe(discord.guild.id);
      const original = handle.original()!;
      expect(original).toMatchObject({ content: 'hihi', channelId: discord.channelId, interactionToken: handle.token });

      // The token edits @original until it expires; then 401 {code: 50027}.
      const rest = new REST({ api: discord.apiBase });
      await rest.patch(`/webhooks/${discord.applicationId}/${handle.token}/messages/@original`, {
        body: { content: 'edited' },
        auth: false,
      });
      expect(discord.messages.get(original.id)!.content).toBe('edited');
      discord.expireInteractionToken(handle.token);
      const expired = await raw(
        'PATCH',
        `/webhooks/${discord.applicationId}/${handle.token}/messages/@original`,
        { content: 'late' },
        false,
      );
      expect(expired).toEqual({ status: 401, json: { code: 50027, message: 'Invalid Webhook Token' } });

      // A second response to the same interaction is refused.
      expect((await acknowledge(handle.id, handle.token, { type: 4, data: { content: 'again' } })).json.code).toBe(40060);

      // Ephemeral replies carry flag 64 and are invisible to channel routes.
      const secret = await discord.sendCommand({ name: 'echo', options: { text: 'secret' }, user });
      await secret.response();
      expect(secret.original()!.flags & 64).toBe(64);
      expect((await raw('GET', `/channels/${discord.channelId}/messages/${secret.original()!.id}`)).status).toBe(404);

      // DMs: no member, a user and a DM channel.
      const dm = await discord.sendCommand({ name: 'echo', options: { text: 'dm' }, user, guildId: null });
      await dm.response();
      expect(at(seen, 2).guildId).toBeNull();
      expect(at(seen, 2).user.id).toBe(user.id);
      await Promise.all(replies);
    } finally {
      await client.destroy();
    }
  });

  it('answers a late first response with 10062 and lets a deferred reply be replaced by the first follow-up', async () => {
    await discord.close();
    discord = await startFakeDiscord({ interactionDeadlineMs: 100 });
    const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiBase } });
    await client.login(discord.botToken);
    await discord.waitForReady();
    try {
      const user = discord.user('bob');
      const late = await discord.sendCommand({ name: 'slow', options: {}, user });
      await new Promise((r) => setTimeout(r, 150));
      expect((await acknowledge(late.id, late.token, { type: 4, data: { content: 'too late' } })).json).toEqual({
        code: 10062,
        message: 'Unknown interaction',
      });

      const deferred = await discord.sendCommand({ name: 'slow', options: {}, user });
      const ack = await acknowledge(deferred.id, deferred.token, { type: 5 });
      expect(ack.json.interaction.response_message_loading).toBe(true);
      expect(deferred.original()!.flags & 128).toBe(128);
      await raw('POST', `/webhooks/${discord.applicationId}/${deferred.token}?wait=true`, { content: 'done' }, false);
      expect(deferred.original()).toMatchObject({ content: 'done', flags: 0 });
      expect(deferred.followUps()).toHaveLength(0);
    } finally {
      await client.destroy();
    }
  });

  it('dispatches button clicks on stored messages and refuses clicks on buttons that do not exist', async () => {
    const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiBase } });
    const clicks: string[] = [];
    const updates: Promise<unknown>[] = [];
    client.on(Events.InteractionCreate, (interaction) => {
      if (!interaction.isButton()) return;
      clicks.push(`${interaction.customId} by ${interaction.user.id} on ${interaction.message.id}`);
      updates.push(interaction.update({ content: 'clicked', components: [] }));
    });
    await client.login(discord.botToken);
    await discord.waitForReady();
    try {
      const rest = new REST({ api: discord.apiBase }).setToken(discord.botToken);
      const posted: any = await rest.post(`/channels/${discord.channelId}/messages`, {
        body: { content: 'pick', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'U1', custom_id: 'img:u:abcdef:0' }] }] },
      });
      const message = discord.messages.get(posted.id)!;
      const user = discord.user('carol');
      await expect(discord.clickButton({ message, customId: 'img:u:abcdef:9', user })).rejects.toThrow(/no enabled button/);
      const click = await discord.clickButton({ message, customId: 'img:u:abcdef:0', user });
      expect((await click.response()).json.type).toBe(7);
      expect(clicks).toEqual([`img:u:abcdef:0 by ${user.id} on ${message.id}`]);
      expect(discord.messages.get(message.id)).toMatchObject({ content: 'clicked', components: [] });
      await Promise.all(updates);
    } finally {
      await client.destroy();
    }
  });

  it('survives a reconnect request: the client resumes its session and keeps receiving interactions', async () => {
    const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiBase } });
    const replies: Promise<unknown>[] = [];
    client.on(Events.InteractionCreate, (interaction) => {
      if (interaction.isChatInputCommand()) replies.push(interaction.reply({ content: 'still here' }));
    });
    await client.login(discord.botToken);
    await discord.waitForReady();
    try {
      discord.gateway.requestReconnect();
      await new Promise<void>((resolve) => {
        const check = () => (discord.gateway.received.some((p) => p.op === 6) && discord.gateway.ready ? resolve() : setTimeout(check, 20));
        check();
      });
      const handle = await discord.sendCommand({ name: 'ping', options: {}, user: discord.user('dave') });
      await handle.response();
      expect(handle.original()!.content).toBe('still here');
      expect(discord.gateway.received.filter((p) => p.op === 2)).toHaveLength(1);
      await Promise.all(replies);
    } finally {
      await client.destroy();
    }
  });
});
