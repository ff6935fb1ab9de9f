// Who may make what appear where, end to end through the local Discord server: server admins
// act only inside their server (never on DM jobs or other servers' jobs), bans and quotas at
// two levels, and the rules of a place (bans, allowed channels, banned words) on every path
// that posts: /imagine, /show, /rerun, U, V, reroll and Replay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { buildCustomId } from '../src/discord/custom-ids.js';
import { renderResult } from '../src/discord/messages.js';
import { completeJob, createJobWithReservation, getJob, setGuildSettings, setLimit, storeReplay, type Job } from '../src/db/index.js';
import { encodeReplay } from '../src/images/encode.js';
import { encodePng } from '../src/images/png.js';
import type { FakeGuild, FakeUser, InteractionHandle, StoredMessage } from './discord/server.js';
import { startHarness, type Harness } from './discord/harness.js';
import { sampleJobInput, sampleParams } from './support/db-fixtures.js';

let h: Harness;
let owner: FakeUser;
let guildA: FakeGuild;
let guildB: FakeGuild;
const MOD_ROLE = '323456789012345678';
const EPHEMERAL = 64;

beforeAll(async () => {
  h = await startHarness({
    label: 'botscopes',
    config: { ADMIN_ROLE_IDS: [MOD_ROLE] },
    discord: { guilds: [{ roles: [MOD_ROLE], channels: [{}, {}] }, {}] },
  });
  owner = h.discord.user('owner');
  h.context.config.ADMIN_USER_IDS.push(owner.id);
  [guildA, guildB] = h.discord.guilds as [FakeGuild, FakeGuild];
});

afterAll(async () => {
  await h?.close();
});

/** A finished one-image job of `user`, made in `guild` (null: a DM), with its result message and a replay. */
async function finishedJob(
  user: FakeUser,
  guild: FakeGuild | null,
  prompt = 'a red square',
): Promise<{ job: Job; message: StoredMessage }> {
  const channelId = guild === null ? `4${user.id.slice(1)}` : at(guild.channels, 0).id;
  const created = await createJobWithReservation(
    h.pg.db,
    sampleJobInput(user.id, {
      guildId: guild?.id ?? null,
      channelId,
      cost: 0,
      params: sampleParams({ prompt, count: 1, width: 64, height: 64 }),
    }),
  );
  if (!created.ok) throw new Error(`could not create a job: ${created.reason}`);
  const rgb = new Uint8Array(64 * 64 * 3).fill(90);
  await completeJob(h.pg.db, created.job.id, [
    { index: 0, seed: created.job.seed, width: 64, height: 64, png: encodePng({ width: 64, height: 64, rgb }) },
  ]);
  await storeReplay(
    h.pg.db,
    created.job.id,
    await encodeReplay([30, 200].map((v) => ({ width: 8, height: 8, rgb: new Uint8Array(8 * 8 * 3).fill(v) }))),
  );
  const job = (await getJob(h.pg.db, created.job.id))!;
  const payload = renderResult(job, { file: { name: 'x.png', data: Buffer.alloc(0) }, seeds: [job.seed], replay: true });
  const postIn = guild?.channels[0]!.id ?? h.discord.channelId;
  const res = await fetch(`${h.discord.apiBase}/v10/channels/${postIn}/messages`, {
    method: 'POST',
    headers: { authorization: `Bot ${h.discord.botToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content: payload.content, components: payload.components }),
  });
  return { job, message: h.discord.messages.get(((await res.json()) as { id: string }).id)! };
}

/** A role id belongs to one server: MOD_ROLE is guild A's, so members hold it only there. */
const memberIn = (guildId: string | null, user: FakeUser) =>
  guildId === guildA.id ? undefined : { roles: (user.roles ?? []).filter((r) => r !== MOD_ROLE) };

async function send(
  name: string,
  user: FakeUser,
  guild: FakeGuild | null,
  options: Record<string, unknown> = {},
  extra: { subcommand?: string; channel?: number } = {},
): Promise<InteractionHandle> {
  return h.discord.sendCommand({
    name,
    user,
    options,
    member: guild === null ? undefined : memberIn(guild.id, user),
    subcommand: extra.subcommand,
    guildId: guild === null ? null : guild.id,
    channelId: guild === null ? undefined : at(guild.channels, extra.channel ?? 0).id,
  });
}

/**
 * The answer the user ends up seeing: the reply, or (after a deferral, which a loaded machine
 * may cause) the follow-up that replaced the placeholder.
 */
async function visibleReply(handle: InteractionHandle, clicked?: StoredMessage): Promise<StoredMessage> {
  const callback = await handle.response();
  for (let waited = 0; waited < 10_000; waited += 20) {
    const followUps = handle.followUps();
    if (followUps.length > 0) return at(followUps, followUps.length - 1);
    const original = handle.original();
    const isAnswer = original !== undefined && original.id !== clicked?.id && original.content !== '';
    if (isAnswer || (callback.json.type !== 5 && callback.json.type !== 6 && original !== undefined && clicked === undefined))
      return original;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no visible answer within 10 s');
}

async function click(message: StoredMessage, customId: string, user: FakeUser): Promise<StoredMessage> {
  return visibleReply(
    await h.discord.clickButton({ message, customId, user, member: memberIn(message.guildId, user), unchecked: true }),
    message,
  );
}

async function ephemeralText(handle: InteractionHandle): Promise<string> {
  const reply = await visibleReply(handle);
  expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);
  return reply.content;
}

describe('server admins act inside their server only', () => {
  it('cannot /show or /rerun a DM job, nor another user’s job from another server; may show one made in their server', async () => {
    const mod = h.discord.user('mod-a', { roles: [MOD_ROLE] });
    const user = h.discord.user('private-person');
    const dm = await finishedJob(user, null, 'a secret prompt');
    const elsewhere = await finishedJob(user, guildB);
    const here = await finishedJob(user, guildA);
    for (const job of [dm.job, elsewhere.job]) {
      expect(await ephemeralText(await send('show', mod, guildA, { job: job.id }))).toBe(`Job \`${job.id}\` belongs to <@${user.id}>.`);
      expect(await ephemeralText(await send('rerun', mod, guildA, { job: job.id }))).toBe(`Job \`${job.id}\` belongs to <@${user.id}>.`);
    }
    const shown = await visibleReply(await send('show', mod, guildA, { job: here.job.id }));
    expect(shown.flags & EPHEMERAL).toBe(0);
    expect(shown.attachments).toHaveLength(1);
    // Their own server only: in another server the same admin role does nothing for this job.
    expect(await ephemeralText(await send('show', mod, guildB, { job: here.job.id }))).toBe(
      `Job \`${here.job.id}\` belongs to <@${user.id}>.`,
    );
    // The bot's owners may show any job.
    expect((await visibleReply(await send('show', owner, guildA, { job: dm.job.id }))).attachments).toHaveLength(1);
  });

  it('may cancel a job made in their server, not one made elsewhere', async () => {
    const mod = h.discord.user('mod-cancel', { roles: [MOD_ROLE] });
    const user = h.discord.user('queuer');
    const here = await visibleReply(await send('imagine', user, guildA, { prompt: 'to moderate', count: 1 }));
    const there = await visibleReply(await send('imagine', user, guildB, { prompt: 'not yours', count: 1 }));
    const idOf = (m: StoredMessage) => {
      const [, id] = /Job `([a-z0-9]+)`/.exec(m.content) ?? [];
      if (id === undefined) throw new Error(`no job id in ${JSON.stringify(m.content)}`);
      return id;
    };
    expect((await click(there, buildCustomId({ action: 'cancel', jobId: idOf(there) }), mod)).content).toBe(
      `These buttons belong to <@${user.id}>.`,
    );
    const cancelled = await h.discord.clickButton({
      message: here,
      customId: buildCustomId({ action: 'cancel', jobId: idOf(here) }),
      user: mod,
    });
    expect((await cancelled.response()).json.type).toBe(7);
    expect((await getJob(h.pg.db, idOf(here)))!.status).toBe('cancelled');
    expect((await getJob(h.pg.db, idOf(there)))!.status).toBe('queued');
  });

  it("a server's default quota and its bans do not change what happens in DMs or other servers", async () => {
    const mod = h.discord.user('mod-quota', { roles: [MOD_ROLE] });
    const user = h.discord.user('dm-person');
    await visibleReply(await send('settings', mod, guildA, { limit: 0 }, { subcommand: 'default-quota' }));
    await visibleReply(await send('settings', mod, guildA, { user: user.id }, { subcommand: 'ban' }));
    expect(await ephemeralText(await send('imagine', user, guildA, { prompt: 'here', count: 1 }))).toBe(
      'You are banned from using this bot in this server.',
    );
    expect((await visibleReply(await send('imagine', user, null, { prompt: 'in a dm', count: 1 }))).content).toMatch(/queued/);
    expect((await visibleReply(await send('imagine', user, guildB, { prompt: 'elsewhere', count: 1 }))).content).toMatch(/queued/);
    await visibleReply(await send('settings', mod, guildA, { user: user.id }, { subcommand: 'unban' }));
    expect(await ephemeralText(await send('imagine', user, guildA, { prompt: 'here', count: 1 }))).toMatch(
      /^You have no quota left in this server/,
    );
    await setGuildSettings(h.pg.db, { guildId: guildA.id, actorId: mod.id, changes: { defaultQuota: null } });
  });
});

describe('the rules of a place apply to every path that posts', () => {
  it("a banned user's /show, /rerun, U, V, reroll and Replay are refused, everywhere or in the banning server", async () => {
    const user = h.discord.user('banned-later');
    const { job, message } = await finishedJob(user, guildA);
    await visibleReply(await send('settings', owner, guildA, { user: user.id, reason: 'spam' }, { subcommand: 'ban' }));
    const refusal = 'You are banned from using this bot in this server: spam';
    expect(await ephemeralText(await send('show', user, guildA, { job: job.id }))).toBe(refusal);
    expect(await ephemeralText(await send('rerun', user, guildA, { job: job.id }))).toBe(refusal);
    for (const action of [
      { action: 'replay', jobId: job.id },
      { action: 'select', jobId: job.id, index: 0 },
      { action: 'variation', jobId: job.id, index: 0, strength: 'strong' },
      { action: 'reroll', jobId: job.id },
    ] as const) {
      const reply = await click(message, buildCustomId(action), user);
      expect([reply.content, reply.flags & EPHEMERAL]).toEqual([refusal, EPHEMERAL]);
    }
    // A DM is not that server: /show works there; a ban by the bot's owners holds there too.
    expect((await visibleReply(await send('show', user, null, { job: job.id }))).attachments).toHaveLength(1);
    await visibleReply(await send('ban', owner, null, { user: user.id }));
    expect(await ephemeralText(await send('show', user, null, { job: job.id }))).toBe('You are banned from using this bot.');
    await visibleReply(await send('unban', owner, null, { user: user.id }));
    await visibleReply(await send('settings', owner, guildA, { user: user.id }, { subcommand: 'unban' }));
  });

  it('allowed channels hold for /show and the buttons too', async () => {
    const user = h.discord.user('channel-hopper');
    const { job, message } = await finishedJob(user, guildA);
    await visibleReply(await send('settings', owner, guildA, { channel: at(guildA.channels, 1).id }, { subcommand: 'channel-allow' }));
    try {
      expect(await ephemeralText(await send('show', user, guildA, { job: job.id }))).toBe(
        `I am not enabled in this channel. Try <#${at(guildA.channels, 1).id}>.`,
      );
      expect((await click(message, buildCustomId({ action: 'replay', jobId: job.id }), user)).content).toBe(
        `I am not enabled in this channel. Try <#${at(guildA.channels, 1).id}>.`,
      );
      expect((await visibleReply(await send('show', user, guildA, { job: job.id }, { channel: 1 }))).attachments).toHaveLength(1);
    } finally {
      await visibleReply(await send('settings', owner, guildA, {}, { subcommand: 'channels-clear' }));
    }
  });

  it('banned words: invisible characters do not get around them, and an old job with a word banned since is not shown here', async () => {
    const user = h.discord.user('sneaky-writer');
    const { job } = await finishedJob(user, guildA, 'a nude statue');
    await visibleReply(await send('settings', owner, guildA, { word: 'nude' }, { subcommand: 'banned-word-add' }));
    try {
      expect(await ephemeralText(await send('imagine', user, guildA, { prompt: 'a nu\u200Bde statue' }))).toBe(
        'Your prompt contains a banned word (`nude`). Please rephrase it.',
      );
      expect(await ephemeralText(await send('show', user, guildA, { job: job.id }))).toBe(
        `Job \`${job.id}\`'s prompt contains a word banned here (\`nude\`), so it cannot be shown or reused here.`,
      );
      // Not banned in another server.
      expect((await visibleReply(await send('show', user, guildB, { job: job.id }))).attachments).toHaveLength(1);
    } finally {
      await visibleReply(await send('settings', owner, guildA, { word: 'nude' }, { subcommand: 'banned-word-remove' }));
    }
  });
});

describe('quotas at two levels', () => {
  it('a server limit of 2 stops a user at 2 even with a global limit of 100', async () => {
    const user = h.discord.user('generous');
    await setLimit(h.pg.db, { userId: user.id, limit: 100, actorId: owner.id, reason: 'test' });
    await visibleReply(await send('settings', owner, guildB, { user: user.id, limit: 2 }, { subcommand: 'user-limit' }));
    expect((await visibleReply(await send('imagine', user, guildB, { prompt: 'one', count: 1 }))).content).toMatch(/queued/);
    expect((await visibleReply(await send('imagine', user, guildB, { prompt: 'two', count: 1 }))).content).toMatch(/queued/);
    expect(await ephemeralText(await send('imagine', user, guildB, { prompt: 'three', count: 1 }))).toMatch(
      /^You have no quota left in this server \(2 images per day here\)/,
    );
    const quota = (await visibleReply(await send('quota', user, guildB))).content;
    expect(quota).toMatch(/^Limit: 100 images per day\nUsed: 2\nRemaining: 98\nIn this server: 2 images per day, used 2, remaining 0\n/);
  });
});
