// Prompts the way people already write them, through the bot and the local Discord server
// (a worker heartbeat advertises the demo model; no worker runs): Midjourney's inline
// parameters, {a, b} choices, A1111 syntax checked before anything is charged, /prefer
// defaults and suffix, and remix (a modal with the prompt before the button's job).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { buildCustomId } from '../src/discord/custom-ids.js';
import { renderResult } from '../src/discord/messages.js';
import { completeJob, createJobWithReservation, getJob, getQuota, listUserJobs, type Job } from '../src/db/index.js';
import { encodePng } from '../src/images/png.js';
import type { FakeUser, InteractionHandle, StoredMessage } from './discord/server.js';
import { startHarness, type Harness } from './discord/harness.js';
import { sampleJobInput, sampleParams } from './support/db-fixtures.js';

let h: Harness;
const EPHEMERAL = 64;

beforeAll(async () => {
  h = await startHarness({ label: 'botprompts', config: { MAX_JOBS_PER_USER: 4 } });
});
afterAll(async () => {
  await h?.close();
});

async function visibleReply(handle: InteractionHandle): Promise<StoredMessage> {
  const callback = await handle.response();
  for (let waited = 0; waited < 10_000; waited += 20) {
    const followUps = handle.followUps();
    const original = handle.original();
    if (callback.json.type === 4 && original !== undefined) return original;
    if (followUps.length > 0 && (original === undefined || original.content === '')) return at(followUps, followUps.length - 1);
    if (original !== undefined && original.content !== '') return original;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no visible answer within 10 s');
}

const imagine = async (user: FakeUser, options: Record<string, unknown>) => {
  const handle = await h.discord.sendCommand({ name: 'imagine', user, options });
  return { handle, reply: await visibleReply(handle) };
};

const jobIdOf = (message: StoredMessage) => {
  const [, id] = /Job `([a-z0-9]+)`/.exec(message.content) ?? [];
  if (id === undefined) throw new Error(`no job id in ${JSON.stringify(message.content)}`);
  return id;
};

describe('Midjourney inline parameters', () => {
  it('takes --ar, --seed and --no out of the prompt: a landscape job with seed 42 and negative prompt green', async () => {
    const user = h.discord.user('inline');
    const { reply } = await imagine(user, { prompt: 'a red circle on a blue background --ar 16:9 --seed 42 --no green', count: 1 });
    expect(reply.content).toMatch(/queued/);
    const job = (await getJob(h.pg.db, jobIdOf(reply)))!;
    expect(job).toMatchObject({ prompt: 'a red circle on a blue background', seed: 42, negativePrompt: 'green' });
    expect(job.width).toBeGreaterThan(job.height);
    // --no adds to the negative option, comma-joined; --cfg and --steps and --n set their fields.
    const more = await imagine(user, { prompt: 'a square --no blur --cfg 5.5 --steps 9 --n 2 --sampler ddim', negative: 'noise' });
    expect((await getJob(h.pg.db, jobIdOf(more.reply)))!).toMatchObject({
      prompt: 'a square',
      negativePrompt: 'noise, blur',
      guidance: 5.5,
      steps: 9,
      count: 2,
      sampler: 'ddim',
    });
  });

  it('refuses an unknown --word naming the known ones, a value the contract refuses, and an option and a flag that disagree', async () => {
    const user = h.discord.user('typos');
    const unknown = await imagine(user, { prompt: 'a circle --foo 1' });
    expect(unknown.reply.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(unknown.reply.content).toMatch(
      /^Unknown parameter --foo; known parameters: --ar, --no, --seed, --steps, --cfg \(or --guidance\), --sampler, --count \(or --n\), --model, --strength\.$/,
    );
    expect((await imagine(user, { prompt: 'a circle --steps 900' })).reply.content).toBe('`steps` must be a whole number from 1 to 150.');
    expect((await imagine(user, { prompt: 'a circle --ar wide' })).reply.content).toMatch(
      /^`--ar` must be a ratio of two numbers like 16:9/,
    );
    expect((await imagine(user, { prompt: 'a circle --seed 5', seed: 6 })).reply.content).toBe(
      '`seed:6` and `--seed 5` disagree: give one of them.',
    );
    // The same value both ways is fine; a quoted or escaped -- is text.
    const same = await imagine(user, { prompt: 'a "--circle" \\--square --seed 5', seed: 5, count: 1 });
    expect((await getJob(h.pg.db, jobIdOf(same.reply)))!).toMatchObject({ prompt: 'a "--circle" --square', seed: 5 });
    expect((await listUserJobs(h.pg.db, user.id, 10)).length).toBe(1);
  });

  it('refuses A1111 syntax the pipeline could not read before charging anything', async () => {
    const user = h.discord.user('weights');
    const bad = await imagine(user, { prompt: 'a (red:1.2.3) circle' });
    expect(bad.reply.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(0);
    const good = await imagine(user, { prompt: 'a (red:1.3) circle, [blurry] BREAK on [blue:black:0.5]', count: 1 });
    expect(good.reply.content).toMatch(/queued/);
  });
});

describe('{a, b} choices', () => {
  it('makes one job per combination, each charged and queued with a message of its own; the reply lists them', async () => {
    const user = h.discord.user('chooser');
    const { handle, reply } = await imagine(user, { prompt: '{red, yellow} circle on a blue background', count: 1 });
    expect(reply.content).toContain('makes 2 prompts; 2 queued');
    const jobs = await listUserJobs(h.pg.db, user.id, 10);
    expect(jobs.map((j) => j.prompt).sort()).toEqual(['red circle on a blue background', 'yellow circle on a blue background']);
    for (const job of jobs) expect(reply.content).toContain(job.id);
    await expect.poll(() => handle.followUps().length).toBe(2);
    const messages = handle.followUps();
    await expect
      .poll(async () => (await listUserJobs(h.pg.db, user.id, 10)).map((j) => j.messageId).sort())
      .toEqual(messages.map((m) => m.id).sort());
    for (const m of messages) expect(at(m.components, 0).components[0]).toMatchObject({ label: 'Cancel' });
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(2);
    await expect
      .poll(async () => {
        const queued = await h.context.queues.forModel('shapes-demo').getJobs(['prioritized', 'wait']);
        return jobs.every((j) => queued.some((q) => q.id === j.id));
      })
      .toBe(true);
  });

  it('refuses a prompt that makes more prompts than allowed, with the count', async () => {
    const user = h.discord.user('greedy');
    const { reply } = await imagine(user, { prompt: '{a, b, c} {d, e} circle' });
    expect(reply.content).toBe('The {…} choices in this prompt make 6 prompts; at most 4 are allowed.');
    expect(await listUserJobs(h.pg.db, user.id, 10)).toEqual([]);
  });
});

describe('/prefer', () => {
  it('sets defaults that explicit options and inline parameters beat, a suffix for every prompt, and resets them', async () => {
    const user = h.discord.user('preferrer');
    const prefer = async (subcommand: string, options: Record<string, unknown> = {}) =>
      visibleReply(await h.discord.sendCommand({ name: 'prefer', user, subcommand, options }));
    expect((await prefer('set', { steps: 30, count: 1, aspect: '9:16' })).content).toContain('Steps: `30`');
    const preferred = (await getJob(h.pg.db, jobIdOf((await imagine(user, { prompt: 'a preferred circle' })).reply)))!;
    expect(preferred).toMatchObject({ steps: 30, count: 1 });
    expect(preferred.height).toBeGreaterThan(preferred.width);
    const explicit = (await getJob(
      h.pg.db,
      jobIdOf((await imagine(user, { prompt: 'an explicit circle --steps 12', aspect: '1:1' })).reply),
    ))!;
    expect(explicit).toMatchObject({ steps: 12, width: 128, height: 128 });
    expect((await prefer('suffix', { text: 'on a blue background --ar 16:9' })).content).toContain('now ends with');
    const suffixed = (await getJob(h.pg.db, jobIdOf((await imagine(user, { prompt: 'a red circle' })).reply)))!;
    expect(suffixed.prompt).toBe('a red circle on a blue background');
    expect(suffixed.width).toBeGreaterThan(suffixed.height);
    expect((await prefer('show')).content).toMatch(
      /Remix: off\nAspect: `9:16`\nSampler: not set.*\nSteps: `30`\nCount: `1`\nModel: not set.*\nSuffix: `on a blue background --ar 16:9`/,
    );
    expect((await prefer('reset')).content).toContain('reset');
    expect((await prefer('show')).content).toContain('Steps: not set (20)');
  });
});

describe('remix', () => {
  async function finishedJob(user: FakeUser): Promise<{ job: Job; message: StoredMessage }> {
    const created = await createJobWithReservation(
      h.pg.db,
      sampleJobInput(user.id, {
        guildId: h.discord.guild.id,
        channelId: h.discord.channelId,
        cost: 0,
        params: sampleParams({ prompt: 'a red circle', negativePrompt: 'blur', width: 128, height: 128 }),
      }),
    );
    if (!created.ok) throw new Error(created.reason);
    const images = [0, 1, 2, 3].map((index) => ({
      index,
      seed: 1234 + index,
      width: 128,
      height: 128,
      png: encodePng({ width: 128, height: 128, rgb: new Uint8Array(128 * 128 * 3).fill(50 + index) }),
    }));
    await completeJob(h.pg.db, created.job.id, images);
    const job = (await getJob(h.pg.db, created.job.id))!;
    const payload = renderResult(job, { file: { name: 'x.png', data: Buffer.alloc(0) }, seeds: images.map((i) => i.seed) });
    const res = await fetch(`${h.discord.apiBase}/v10/channels/${h.discord.channelId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bot ${h.discord.botToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: payload.content, components: payload.components }),
    });
    return { job, message: h.discord.messages.get(((await res.json()) as { id: string }).id)! };
  }

  it('with remix on, 🔄 and V2 open a modal prefilled with the prompt; the submitted edit runs; with remix off they run at once', async () => {
    const user = h.discord.user('remixer');
    const { job, message } = await finishedJob(user);
    await visibleReply(await h.discord.sendCommand({ name: 'prefer', user, subcommand: 'remix', options: { on: true } }));

    const reroll = await h.discord.clickButton({ message, customId: buildCustomId({ action: 'reroll', jobId: job.id }), user });
    expect((await reroll.response()).json.type).toBe(9);
    const modal = h.discord.modalOf(reroll)!;
    expect(modal.components[0].component).toMatchObject({ type: 4, custom_id: 'prompt', value: 'a red circle --no blur' });
    const submitted = await h.discord.submitModal({ opened: reroll, user, values: { prompt: 'a blue circle --no smoke --steps 8' } });
    const queued = await visibleReply(submitted);
    const rerolled = (await getJob(h.pg.db, jobIdOf(queued)))!;
    expect(rerolled).toMatchObject({
      kind: 'reroll',
      parentJobId: job.id,
      prompt: 'a blue circle',
      negativePrompt: 'smoke',
      steps: 8,
      count: job.count,
      width: job.width,
    });
    expect(rerolled.seed).not.toBe(job.seed);

    const vary = await h.discord.clickButton({
      message,
      customId: buildCustomId({ action: 'variation', jobId: job.id, index: 1, strength: 'strong' }),
      user,
    });
    expect((await vary.response()).json.type).toBe(9);
    const varied = await visibleReply(await h.discord.submitModal({ opened: vary, user, values: { prompt: 'a green circle' } }));
    expect((await getJob(h.pg.db, jobIdOf(varied)))!).toMatchObject({
      kind: 'variation',
      prompt: 'a green circle',
      negativePrompt: '',
      initJobId: job.id,
      initIndex: 1,
      strength: 0.65,
    });

    // Someone else cannot open or submit it.
    const other = await h.discord.clickButton({
      message,
      customId: buildCustomId({ action: 'reroll', jobId: job.id }),
      user: h.discord.user('intruder'),
    });
    expect((await other.response()).json.type).toBe(4);
    expect(other.original()!.content).toBe(`These buttons belong to <@${user.id}>.`);

    await visibleReply(await h.discord.sendCommand({ name: 'prefer', user, subcommand: 'remix', options: { on: false } }));
    const direct = await h.discord.clickButton({ message, customId: buildCustomId({ action: 'reroll', jobId: job.id }), user });
    expect((await direct.response()).json.type).toBe(4);
    expect(direct.original()!.content).toMatch(/queued/);
  });
});
