// The bot against the local Discord server, a fresh database and Redis prefix, with a
// worker heartbeat advertising the demo model but no worker: commands, refusals, quotas,
// admin checks, buttons (ownership, forged ids, restarts), deferral, DMs.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { at } from '../src/checked.js';
import { buildCustomId } from '../src/discord/custom-ids.js';
import { renderResult } from '../src/discord/messages.js';
import { completeJob, createJobWithReservation, failJob, getJob, getQuota, listAudit, listImages, type Job } from '../src/db/index.js';
import { encodePng } from '../src/images/png.js';
import { Heartbeat, queueNameForModel } from '../src/queue/index.js';
import type { FakeUser, InteractionHandle, StoredMessage } from './discord/server.js';
import { DEMO_MODEL, startHarness, type Harness } from './discord/harness.js';
import { SINGLE_IMAGE_BUTTONS } from './support/labels.js';

let h: Harness;
let admin: FakeUser;
const ADMIN_ROLE = '123456789012345678';

beforeAll(async () => {
  h = await startHarness({
    label: 'bot',
    config: { BANNED_WORDS: ['forbidden', 'gros mot'], ADMIN_ROLE_IDS: [ADMIN_ROLE] },
    discord: { guilds: [{ roles: [ADMIN_ROLE] }] },
  });
  admin = h.discord.user('admin');
  h.context.config.ADMIN_USER_IDS.push(admin.id);
});

afterAll(async () => {
  await h?.close();
});

/** Sends /imagine and waits for the first response; returns the handle and its callback body. */
async function command(
  name: string,
  user: FakeUser,
  options: Record<string, unknown> = {},
  extra: { subcommand?: string; guildId?: string | null } = {},
) {
  const handle = await h.discord.sendCommand({ name, options, user, ...extra });
  const callback = await handle.response();
  return { handle, callback: callback.json, latencyMs: callback.receivedAt - handle.sentAt };
}

/** The answer the user ends up seeing: a follow-up, or the original once it has content (not a "thinking" placeholder). */
async function visibleReply(handle: InteractionHandle): Promise<StoredMessage> {
  await h.discord.messages.waitFor(
    (m) => m.interactionToken === handle.token && !m.deleted && (m.id !== handle.original()?.id || m.content !== ''),
  );
  const reply = handle.followUps().at(-1) ?? handle.original();
  if (!reply) throw new Error(`no reply to interaction ${handle.token}`);
  return reply;
}

function jobIdOf(message: StoredMessage): string {
  const ids = message.components.flatMap((row) => row.components.map((c: { custom_id: string }) => c.custom_id));
  const match = /^img:[a-z]+:([a-z0-9]+)/.exec(ids[0] ?? '');
  const jobId = match?.[1];
  if (jobId === undefined) throw new Error(`no job button on message: ${message.content}`);
  return jobId;
}

const EPHEMERAL = 64;

/** A finished job with real PNGs in Postgres, and its result message in the channel. */
async function finishedJob(user: FakeUser, count: number): Promise<{ job: Job; message: StoredMessage }> {
  const created = await createJobWithReservation(h.pg.db, {
    interactionId: `seed-${Math.random()}`,
    interactionToken: 'x'.repeat(40),
    userId: user.id,
    guildId: h.discord.guild.id,
    channelId: h.discord.channelId,
    kind: 'imagine',
    params: {
      prompt: 'a red square',
      negativePrompt: '',
      model: 'shapes-demo',
      sampler: 'euler',
      steps: 4,
      guidance: 7,
      width: 128,
      height: 128,
      count,
      seed: 42,
      rng: 'numpy',
      init: null,
      edit: null,
    },
    defaultLimit: 50,
    maxActiveJobs: 100,
    cost: 0,
  });
  if (!created.ok) throw new Error(`could not create a job: ${created.reason}`);
  const images = Array.from({ length: count }, (_, index) => {
    const rgb = new Uint8Array(128 * 128 * 3).fill(40 * (index + 1));
    return { index, seed: 42 + index, width: 128, height: 128, png: encodePng({ width: 128, height: 128, rgb }) };
  });
  await completeJob(h.pg.db, created.job.id, images);
  const job = (await getJob(h.pg.db, created.job.id))!;
  const payload = renderResult(job, { file: { name: 'grid.png', data: at(images, 0).png }, seeds: images.map((i) => i.seed) });
  const res = await fetch(`${h.discord.apiBase}/v10/channels/${h.discord.channelId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bot ${h.discord.botToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content: payload.content, components: payload.components }),
  });
  const message = h.discord.messages.get(((await res.json()) as { id: string }).id)!;
  return { job, message };
}

describe('commands', () => {
  it('registers every command within Discord limits', () => {
    expect(
      h.discord
        .commands()
        .map((c) => c.name)
        .sort(),
    ).toEqual(['ban', 'history', 'imagine', 'prefer', 'quota', 'quota-admin', 'rerun', 'settings', 'show', 'unban']);
  });

  it('/imagine answers publicly with the queued message and a Cancel button, stores the token, and enqueues the job', async () => {
    const user = h.discord.user('ann');
    const { handle, callback, latencyMs } = await command('imagine', user, {
      prompt: 'a blue circle',
      count: 2,
      steps: 4,
      aspect: '16:9',
      seed: 7,
    });
    expect(latencyMs).toBeLessThan(3000);
    expect(callback.type).toBe(4);
    const message = handle.original()!;
    expect(message.flags & EPHEMERAL).toBe(0);
    expect(message.content).toMatch(/queued, next in line/);
    const jobId = jobIdOf(message);
    expect(message.components[0].components[0]).toMatchObject({ label: 'Cancel', custom_id: buildCustomId({ action: 'cancel', jobId }) });
    const queued = await vi.waitFor(async () => {
      const found = await h.context.queues.forModel('shapes-demo').getJob(jobId);
      if (!found) throw new Error('not enqueued yet');
      return found;
    });
    expect(queued.data).toEqual({ jobId });
    const job = (await getJob(h.pg.db, jobId))!;
    expect(job).toMatchObject({
      userId: user.id,
      status: 'queued',
      prompt: 'a blue circle',
      count: 2,
      steps: 4,
      seed: 7,
      width: 192,
      height: 128,
      sampler: 'euler',
      model: 'shapes-demo',
      interactionToken: handle.token,
      messageId: message.id,
      kind: 'imagine',
    });
    expect(job.interactionTokenExpiresAt.getTime() - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(queueNameForModel('shapes-demo')).toBe('gen-shapes-demo');
  });

  it.each([
    ['blank prompt', { prompt: '   ' }, '`prompt` must not be empty.'],
    ['too long prompt', { prompt: 'x'.repeat(1001) }, '`prompt` is too long: at most 1000 characters.'],
    ['zero steps', { prompt: 'ok', steps: 0 }, '`steps` must be a whole number from 1 to 150.'],
    ['huge steps', { prompt: 'ok', steps: 1e12 }, '`steps` must be a whole number from 1 to 150.'],
    ['negative guidance', { prompt: 'ok', guidance: -1 }, '`guidance` must be a number from 0 to 30.'],
    ['negative seed', { prompt: 'ok', seed: -5 }, '`seed` must be a whole number from 0 to 4294967295.'],
    ['count 9', { prompt: 'ok', count: 9 }, '`count` must be a whole number from 1 to 4.'],
    ['unknown aspect', { prompt: 'ok', aspect: '2:1' }, '`aspect` must be one of 1:1, 4:3, 3:4, 16:9, 9:16.'],
    ['unknown sampler', { prompt: 'ok', sampler: 'turbo' }, '`sampler` must be one of euler, euler_a, ddim,'],
    ['unknown model', { prompt: 'ok', model: 'sdxl' }, 'No worker is serving the model `sdxl` right now. Available: `shapes-demo`.'],
    ['accented banned word', { prompt: 'a FORBÍDDEN thing' }, 'Your prompt contains a banned word (`forbidden`).'],
    [
      'banned phrase in negative',
      { prompt: 'fine', negative: 'un Gros  Mot'.replace('  ', ' ') },
      'Your prompt contains a banned word (`gros mot`).',
    ],
  ])('/imagine refuses a %s ephemerally', async (_label, options, expected) => {
    const { handle, callback } = await command('imagine', h.discord.user('typo'), options);
    expect(callback.type).toBe(4);
    const reply = await visibleReply(handle);
    expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(reply.content).toContain(expected);
  });

  it('does not flag words that only contain a banned word', async () => {
    const { handle } = await command('imagine', h.discord.user('scunthorpe'), { prompt: 'unforbiddenness, forbiddens', count: 1 });
    expect(handle.original()!.content).toMatch(/queued/);
  });

  it('refuses, ephemerally and charging nothing, a model whose last worker stopped advertising it', async () => {
    const night = { ...DEMO_MODEL, name: 'night-model' };
    const heartbeat = new Heartbeat({ redis: h.redis, prefix: h.context.config.REDIS_PREFIX, workerId: 'night:1', models: [night] });
    await heartbeat.start();
    const user = h.discord.user('owl');
    const served = await command('imagine', user, { prompt: 'an owl', model: 'night-model', count: 1 });
    expect(served.handle.original()!.content).toMatch(/queued/);
    // Its pipeline thread died: the worker deletes its heartbeat key at once.
    await heartbeat.stop();
    const { handle, callback } = await command('imagine', user, { prompt: 'another owl', model: 'night-model', count: 2 });
    expect(callback.type).toBe(4);
    const reply = await visibleReply(handle);
    expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(reply.content).toBe('No worker is serving the model `night-model` right now. Available: `shapes-demo`.');
    const jobs = await h.pg.sql<{ prompt: string }[]>`select prompt from jobs where user_id = ${user.id}`;
    expect(jobs.map((j) => j.prompt)).toEqual(['an owl']);
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(1);
  });

  it('refuses values of the wrong type with a clear message', async () => {
    const user = h.discord.user('raw');
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: [
        { name: 'prompt', type: 3, value: 'ok' },
        { name: 'steps', type: 4, value: 'many' },
      ],
    });
    await handle.response();
    expect(handle.original()!.content).toBe('`steps` must be a number.');
    const extra = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: [
        { name: 'prompt', type: 3, value: 'ok' },
        { name: 'style', type: 3, value: 'x' },
      ],
    });
    await extra.response();
    expect(extra.original()!.content).toBe('Unknown option: `style`.');
  });

  it('works in DMs', async () => {
    const { handle } = await command('imagine', h.discord.user('dm'), { prompt: 'a dm circle', count: 1 }, { guildId: null });
    const job = (await getJob(h.pg.db, jobIdOf(handle.original()!)))!;
    expect(job.guildId).toBeNull();
    expect(job.channelId).toBe(handle.payload.channel_id);
  });

  it('autocompletes models and samplers from live workers', async () => {
    const handle = await h.discord.sendAutocomplete({
      name: 'imagine',
      user: h.discord.user('auto'),
      options: { prompt: 'x', sampler: 'dpm' },
      focused: 'sampler',
    });
    expect((await handle.response()).json).toEqual({
      type: 8,
      data: {
        choices: [
          { name: 'dpmpp_2m', value: 'dpmpp_2m' },
          { name: 'dpmpp_2m_karras', value: 'dpmpp_2m_karras' },
          { name: 'ddpm', value: 'ddpm' },
        ],
      },
    });
    const models = await h.discord.sendAutocomplete({
      name: 'imagine',
      user: h.discord.user('auto2'),
      options: { prompt: 'x', model: '' },
      focused: 'model',
    });
    expect((await models.response()).json.data.choices).toEqual([{ name: 'shapes-demo', value: 'shapes-demo' }]);
  });

  it('/quota and /history show the user their numbers and jobs', async () => {
    const user = h.discord.user('counter');
    await command('imagine', user, { prompt: 'first prompt', count: 3, seed: 11 });
    const quota = await command('quota', user);
    expect(quota.handle.original()!.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(quota.handle.original()!.content).toMatch(
      /^Limit: 50 images per day\nUsed: 3\nRemaining: 47\nIn this server: no limit of its own \(used 3 here today\)\nResets <t:\d+:R>/,
    );
    const history = await command('history', user);
    expect(history.handle.original()!.content).toMatch(/`[a-z0-9]{12}` queued · imagine · seeds 11\+2 · <t:\d+:R>\n {2}first prompt/);
  });
});

describe('quota and admin', () => {
  it('with 2 left, three parallel /imagine: two run and one gets "no quota left"; a failed job refunds; a grant lets the user continue', async () => {
    const user = h.discord.user('quota');
    const set = await command('quota-admin', admin, { user: user.id, limit: 2 }, { subcommand: 'set' });
    expect(set.handle.original()!.content).toContain('now has a limit of 2 images per day');
    const results = await Promise.all([1, 2, 3].map((i) => command('imagine', user, { prompt: `parallel ${i}`, count: 1 })));
    const replies = await Promise.all(results.map((r) => visibleReply(r.handle)));
    const queued = replies.filter((m) => /queued/.test(m.content));
    const refused = replies.filter((m) => /no quota left/.test(m.content));
    expect(queued).toHaveLength(2);
    expect(refused).toHaveLength(1);
    expect(at(refused, 0).flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(at(refused, 0).content).toMatch(/You have no quota left \(2 images per day\)\. It resets <t:\d+:R>\./);

    await failJob(h.pg.db, jobIdOf(at(queued, 0)), 'test failure');
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).remaining).toBe(1);

    const grant = await command('quota-admin', admin, { user: user.id, amount: 3 }, { subcommand: 'grant' });
    expect(grant.handle.original()!.content).toContain('Granted 3 extra images');
    const after = await command('imagine', user, { prompt: 'after grant', count: 4 });
    expect(after.handle.original()!.content).toMatch(/queued/);
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).remaining).toBe(0);
  });

  it('refuses admin commands to non-admins even when Discord lets the call through, and audits the attempt', async () => {
    const user = h.discord.user('sneaky');
    for (const [sub, options] of [
      ['grant', { user: user.id, amount: 100 }],
      ['default', { limit: 1000 }],
    ] as const) {
      const { handle } = await command('quota-admin', user, options, { subcommand: sub });
      expect(handle.original()!.content).toBe(
        "Only the bot's owners can use /quota-admin. Server admins manage their own server with /settings.",
      );
      expect(handle.original()!.flags & EPHEMERAL).toBe(EPHEMERAL);
    }
    // Repeated refusals are audited once a window: the log cannot be flooded.
    for (let i = 0; i < 5; i++) {
      const ban = await command('ban', user, { user: admin.id });
      expect(ban.handle.original()!.content).toBe(
        "Only the bot's owners can use /ban. Server admins manage their own server with /settings.",
      );
    }
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).limit).toBe(50);
    const denied = async () =>
      (await listAudit(h.pg.db, { limit: 50 })).filter((a) => a.action === 'access.denied' && a.actorId === user.id);
    await vi.waitFor(async () => expect(await denied()).toHaveLength(3));
    expect((await denied()).map((a) => a.details.command).sort()).toEqual(['/ban', '/quota-admin default', '/quota-admin grant']);
  });

  it("an admin role bans in its server only; a bot owner's ban holds everywhere; unban lifts each", async () => {
    const moderator = h.discord.user('moderator', { roles: [ADMIN_ROLE] });
    const user = h.discord.user('troll');
    const banned = await command('settings', moderator, { user: user.id, reason: 'spam' }, { subcommand: 'ban' });
    expect(banned.handle.original()!.content).toBe(`<@${user.id}> cannot use the bot in this server any more (spam).`);
    const refused = await command('imagine', user, { prompt: 'hello' });
    expect(refused.handle.original()!.content).toBe('You are banned from using this bot in this server: spam');
    // The server's ban does not reach DMs.
    const inDm = await command('imagine', user, { prompt: 'hello', count: 1 }, { guildId: null });
    expect(inDm.handle.original()!.content).toMatch(/queued/);
    await command('settings', moderator, { user: user.id }, { subcommand: 'unban' });
    const ok = await command('imagine', user, { prompt: 'hello', count: 1 });
    expect(ok.handle.original()!.content).toMatch(/queued/);

    const global = await command('ban', admin, { user: user.id, reason: 'abuse' });
    expect(global.handle.original()!.content).toContain('is banned (abuse)');
    for (const guildId of [undefined, null]) {
      const everywhere = await command('imagine', user, { prompt: 'hello' }, { guildId });
      expect(everywhere.handle.original()!.content).toBe('You are banned from using this bot: abuse');
    }
    await command('unban', admin, { user: user.id });
    expect((await listAudit(h.pg.db, { limit: 10, targetId: user.id })).map((a) => a.action)).toEqual([
      'user.unban',
      'user.ban',
      'guild.unban',
      'guild.ban',
    ]);
  });

  it('refuses a fourth job in flight', async () => {
    const user = h.discord.user('busy');
    for (let i = 0; i < 3; i++) await command('imagine', user, { prompt: `job ${i}`, count: 1 });
    const { handle } = await command('imagine', user, { prompt: 'one too many', count: 1 });
    expect(handle.original()!.content).toBe('You already have 3 jobs in flight (the limit is 3). Wait for one to finish, or cancel one.');
  });
});

describe('buttons', () => {
  it('U1 posts that image alone as a new select job, charged 1 image, with the single-image buttons', async () => {
    const user = h.discord.user('selector');
    const { job, message } = await finishedJob(user, 4);
    const click = await h.discord.clickButton({ message, customId: buildCustomId({ action: 'select', jobId: job.id, index: 2 }), user });
    expect((await click.response()).json.type).toBe(4);
    const reply = click.original()!;
    expect(reply.attachments).toHaveLength(1);
    const selectId = jobIdOf(reply);
    expect(reply.components.flatMap((r) => r.components.map((c: { label: string }) => c.label))).toEqual([...SINGLE_IMAGE_BUTTONS]);
    const selected = (await getJob(h.pg.db, selectId))!;
    expect(selected).toMatchObject({
      kind: 'select',
      parentJobId: job.id,
      parentIndex: 2,
      status: 'succeeded',
      cost: 1,
      seed: 44,
      count: 1,
    });
    // The parent's image, byte for byte; the select job stores no copy.
    expect(await listImages(h.pg.db, selectId)).toEqual([]);
    const image = at(await listImages(h.pg.db, job.id), 2);
    expect(at(reply.attachments, 0).data.equals(image.png!)).toBe(true);
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(1);
  });

  it("V2 queues a variation of image 2 with the parent's count; 🔄 queues the same request with a new seed", async () => {
    const user = h.discord.user('varier');
    const { job, message } = await finishedJob(user, 4);
    const v2 = await h.discord.clickButton({
      message,
      customId: buildCustomId({ action: 'variation', jobId: job.id, index: 1, strength: 'strong' }),
      user,
    });
    await v2.response();
    const variation = (await getJob(h.pg.db, jobIdOf(v2.original()!)))!;
    expect(variation).toMatchObject({
      kind: 'variation',
      parentJobId: job.id,
      parentIndex: 1,
      strength: 0.65,
      count: 4,
      prompt: job.prompt,
      interactionToken: v2.token,
    });
    const reroll = await h.discord.clickButton({ message, customId: buildCustomId({ action: 'reroll', jobId: job.id }), user });
    await reroll.response();
    const rerolled = (await getJob(h.pg.db, jobIdOf(reroll.original()!)))!;
    expect(rerolled).toMatchObject({ kind: 'reroll', parentJobId: job.id, count: 4, strength: null });
    expect(rerolled.seed).not.toBe(job.seed);
  });

  it('answers a click by someone else with "these buttons belong to @owner", and ignores forged custom_ids', async () => {
    const owner = h.discord.user('owner');
    const other = h.discord.user('other');
    const { job, message } = await finishedJob(owner, 4);
    const click = await h.discord.clickButton({
      message,
      customId: buildCustomId({ action: 'select', jobId: job.id, index: 0 }),
      user: other,
    });
    await click.response();
    expect(click.original()!.content).toBe(`These buttons belong to <@${owner.id}>.`);
    expect(click.original()!.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(click.original()!.mentions).toEqual([]);
    for (const forged of [
      'img:u:' + job.id + ':7',
      'img:u:' + job.id.toUpperCase() + ':0',
      'img:x:abcdef123456',
      'img:c:zzzzzzzzzzzz',
      'img:u:' + job.id + ':0:extra',
      '',
    ]) {
      const f = await h.discord.clickButton({ message, customId: forged, user: owner, unchecked: true });
      await f.response();
      expect(f.original()!.flags & EPHEMERAL).toBe(EPHEMERAL);
      expect(f.original()!.content).toMatch(/This button is not one of mine|This job does not exist/);
    }
    expect((await getQuota(h.pg.db, owner.id, { defaultLimit: 50 })).used).toBe(0);
  });

  it("admins may cancel anyone's job but not spend on its other buttons", async () => {
    const owner = h.discord.user('victim');
    const { job, message } = await finishedJob(owner, 4);
    const upscale = await h.discord.clickButton({
      message,
      customId: buildCustomId({ action: 'select', jobId: job.id, index: 0 }),
      user: admin,
    });
    await upscale.response();
    expect(upscale.original()!.content).toBe(`These buttons belong to <@${owner.id}>.`);
    const { handle } = await command('imagine', owner, { prompt: 'moderated', count: 1 });
    const queued = handle.original()!;
    const jobId = jobIdOf(queued);
    const cancel = await h.discord.clickButton({ message: queued, customId: `img:c:${jobId}`, user: admin });
    expect((await cancel.response()).json.type).toBe(7);
    expect((await getJob(h.pg.db, jobId))!).toMatchObject({ status: 'cancelled', cancelledBy: admin.id });
  });

  it('Cancel on a queued job cancels and refunds it; the button keeps working after a bot restart', async () => {
    const user = h.discord.user('canceller');
    const first = await command('imagine', user, { prompt: 'to cancel', count: 2 });
    const second = await command('imagine', user, { prompt: 'to cancel after restart', count: 2 });
    const firstJobId = jobIdOf(first.handle.original()!);
    const quota = () => getQuota(h.pg.db, user.id, { defaultLimit: 50 });
    expect((await quota()).used).toBe(4);

    const click = await h.discord.clickButton({ message: first.handle.original()!, customId: `img:c:${firstJobId}`, user });
    expect((await click.response()).json.type).toBe(7);
    expect(h.discord.messages.get(first.handle.original()!.id)!.content).toMatch(/cancelled/);
    expect((await getJob(h.pg.db, firstJobId))!.status).toBe('cancelled');

    await h.restartBot();
    const message = h.discord.messages.get(second.handle.original()!.id)!;
    const secondJobId = jobIdOf(message);
    const late = await h.discord.clickButton({ message, customId: `img:c:${secondJobId}`, user });
    expect((await late.response()).json.type).toBe(7);
    expect((await getJob(h.pg.db, secondJobId))!.status).toBe('cancelled');
    expect((await quota()).used).toBe(0);

    const again = await h.discord.clickButton({
      message: first.handle.original()!,
      customId: `img:c:${firstJobId}`,
      user,
      unchecked: true,
    });
    await again.response();
    expect(again.original()!.content).toMatch(/is already cancelled/);
  });

  it('/show posts a finished job again with live buttons; /rerun queues its exact request', async () => {
    const user = h.discord.user('shower');
    const { job } = await finishedJob(user, 4);
    const shown = await command('show', user, { job: job.id.toUpperCase() });
    const message = shown.handle.original()!;
    expect(message.flags & EPHEMERAL).toBe(0);
    expect(message.attachments).toHaveLength(1);
    expect(at(message.attachments, 0).width).toBeGreaterThan(128);
    expect(message.components.flatMap((r) => r.components.map((c: { label: string }) => c.label))).toEqual([
      'U1',
      'U2',
      'U3',
      'U4',
      'V1',
      'V2',
      'V3',
      'V4',
      '🔄',
    ]);
    const rerun = await command('rerun', user, { job: job.id, image: 3 });
    const rerunJob = (await getJob(h.pg.db, jobIdOf(rerun.handle.original()!)))!;
    expect(rerunJob).toMatchObject({
      kind: 'rerun',
      parentJobId: job.id,
      parentIndex: 2,
      seed: 44,
      count: 1,
      prompt: job.prompt,
      steps: job.steps,
    });
    const single = await finishedJob(user, 1);
    const missing = await command('rerun', user, { job: single.job.id, image: 2 });
    expect(missing.handle.original()!.content).toBe(`Job \`${single.job.id}\` has 1 image; there is no image 2.`);
    const bad = await command('show', user, { job: 'nope' });
    expect(bad.handle.original()!.content).toMatch(/^That is not a job id/);
    const other = await command('show', h.discord.user('nosy'), { job: job.id });
    expect(other.handle.original()!.content).toBe(`Job \`${job.id}\` belongs to <@${user.id}>.`);
    const byAdmin = await command('show', admin, { job: job.id });
    expect(byAdmin.handle.original()!.attachments).toHaveLength(1);
  });
});

describe('job autocomplete', () => {
  it("offers the user's own jobs for /show (finished ones) and /rerun, matching id or prompt", async () => {
    const user = h.discord.user('completer');
    const { job } = await finishedJob(user, 1);
    await command('imagine', user, { prompt: 'a queued red square', count: 1 });
    await finishedJob(h.discord.user('stranger'), 1);
    const show = await h.discord.sendAutocomplete({ name: 'show', user, options: { job: 'red' }, focused: 'job' });
    expect((await show.response()).json.data.choices).toEqual([{ name: `${job.id} · a red square`, value: job.id }]);
    const rerun = await h.discord.sendAutocomplete({ name: 'rerun', user, options: { job: '' }, focused: 'job' });
    expect((await rerun.response()).json.data.choices.map((c: { name: string }) => c.name.split(' · ')[1])).toEqual([
      'a queued red square',
      'a red square',
    ]);
  });
});

describe('response deadline', () => {
  it('defers publicly when the checks are slow, then edits in the queued message; a refusal deletes the placeholder and follows up ephemerally', async () => {
    const slow = await startHarness({ label: 'botslow', responseBudgetMs: 0, config: { DEFAULT_QUOTA: 1 } });
    try {
      const user = slow.discord.user('patient');
      const accepted = await slow.discord.sendCommand({ name: 'imagine', user, options: { prompt: 'deferred', count: 1 } });
      expect((await accepted.response()).json.type).toBe(5);
      await slow.discord.messages.waitFor((m) => m.id === accepted.original()?.id && /queued/.test(m.content));
      expect(accepted.original()!.flags & EPHEMERAL).toBe(0);

      const refused = await slow.discord.sendCommand({ name: 'imagine', user, options: { prompt: 'no quota', count: 1 } });
      expect((await refused.response()).json.type).toBe(5);
      const followUp = await slow.discord.messages.waitFor((m) => m.interactionToken === refused.token && m.id !== refused.original()?.id);
      expect(followUp.content).toMatch(/no quota left/);
      expect(followUp.flags & EPHEMERAL).toBe(EPHEMERAL);
      expect(refused.original()!.deleted).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('fails and refunds a job whose first response Discord refuses (10062), and keeps answering', async () => {
    const lost = await startHarness({ label: 'botlost' });
    try {
      const user = lost.discord.user('unlucky');
      await lost.pg.sql`insert into users (id) values (${user.id})`;
      const rowsOf = () =>
        lost.pg.sql<
          { id: string; status: string; error: string | null }[]
        >`select id, status, error from jobs where user_id = ${user.id} order by created_at`;
      lost.discord.failInteractionCallbacks(true);
      // One prompt, then one that makes two prompts: each time the reservation is held up (its
      // user row locked, as a busy database would) until the budget runs out, the bot defers,
      // Discord refuses the deferral, and only then does the job row exist.
      for (const prompt of ['never shown', 'a {red, blue} circle']) {
        let release!: () => void;
        let locked!: () => void;
        const isLocked = new Promise<void>((resolve) => (locked = resolve));
        const holder = lost.pg.sql.begin(async (tx) => {
          await tx`select id from users where id = ${user.id} for update`;
          locked();
          await new Promise<void>((resolve) => (release = resolve));
        });
        await isLocked;
        const handle = await lost.discord.sendCommand({ name: 'imagine', user, options: { prompt, count: 2 } });
        const callback = `/interactions/${handle.id}/${handle.token}/callback`;
        const refusal = await lost.discord.waitForRequest((r) => r.path === callback);
        expect(refusal.response).toEqual({ status: 404, json: { code: 10062, message: 'Unknown interaction' } });
        release();
        await holder;
        // The job made once the lock went is taken back, then the bot tries its error reply
        // (refused too): the handler is done before the next command.
        const deadline = Date.now() + 15_000;
        while (lost.discord.requests.filter((r) => r.path === callback && r.response !== undefined).length < 2 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        const made = prompt === 'never shown' ? 1 : 2;
        expect((await rowsOf()).map((j) => j.status)).toEqual(Array.from({ length: made }, () => 'failed'));
        expect(lost.discord.messages.all().filter((m) => m.interactionToken === handle.token)).toEqual([]);
      }
      // Each job made is failed and refunded: none stays charged without a message.
      const rows = await rowsOf();
      expect(rows.map((j) => [j.status, j.error])).toEqual([
        ['failed', 'the first response to Discord failed'],
        ['failed', 'the first response to Discord failed'],
      ]);
      for (const row of rows) {
        const ledger = await lost.pg.sql<{ kind: string }[]>`select kind from quota_ledger where job_id = ${row.id} order by id`;
        expect(ledger.map((l) => l.kind)).toEqual(['charge', 'refund']);
      }
      expect((await getQuota(lost.pg.db, user.id, { defaultLimit: 50 })).used).toBe(0);

      // The bot is still there, and the user is not held back by jobs in flight.
      lost.discord.failInteractionCallbacks(false);
      const next = await lost.discord.sendCommand({ name: 'imagine', user, options: { prompt: 'shown', count: 1 } });
      await lost.discord.messages.waitFor((m) => m.interactionToken === next.token && /queued/.test(m.content));
    } finally {
      await lost.close();
    }
  });
});
