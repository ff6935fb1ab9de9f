// Discord delivery on its own (no pipeline): progress throttling with a latest-value slot,
// 429 handling, token expiry and deleted messages, against the local Discord API server
// through the real @discordjs/rest client.
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { renderProgress, renderResult, renderSuperseded, type MessageJob } from '../src/discord/messages.js';
import { DiscordMessages, createDiscordRest } from '../src/worker/discord.js';
import { JobMessage } from '../src/worker/job-message.js';
import { createWorkerMetrics } from '../src/worker/metrics.js';
import { ProgressReporter } from '../src/worker/progress.js';
import { startFakeDiscord, type FakeDiscord, type RecordedRequest } from './discord/server.js';

let discord: FakeDiscord;
let client: Client;
let messages: DiscordMessages;
let rateLimits = 0;
/** The bot side's replies to the commands; interaction() awaits them, so a failed reply fails its test. */
const replies: Promise<unknown>[] = [];

beforeAll(async () => {
  discord = await startFakeDiscord();
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiBase } });
  client.on(Events.InteractionCreate, (interaction) => {
    if (interaction.isChatInputCommand()) replies.push(interaction.reply({ content: 'queued' }));
  });
  await client.login(discord.botToken);
  await discord.waitForReady();
  messages = new DiscordMessages(
    createDiscordRest({ token: discord.botToken, apiBase: discord.apiBase }),
    discord.applicationId,
    () => rateLimits++,
  );
});

afterAll(async () => {
  await client?.destroy();
  await discord?.close();
});

async function interaction() {
  const user = discord.user(`u${Math.random().toString(36).slice(2, 8)}`);
  const handle = await discord.sendCommand({ name: 'imagine', options: [], user });
  await handle.response();
  await Promise.all(replies);
  const original = handle.original()!;
  const job: MessageJob = {
    id: `job${Math.random().toString(36).slice(2, 10)}`,
    userId: user.id,
    kind: 'imagine',
    prompt: 'a blue triangle',
    negativePrompt: '',
    model: 'shapes-demo',
    sampler: 'euler',
    steps: 20,
    guidance: 7,
    width: 128,
    height: 128,
    count: 1,
    strength: null,
    seed: 7,
    edit: null,
  };
  const target = {
    channelId: original.channelId,
    messageId: original.id,
    interactionToken: handle.token,
    interactionTokenExpiresAt: new Date(Date.now() + 15 * 60_000),
  };
  return { user, handle, original, job, target };
}

function patchesOf(token: string): RecordedRequest[] {
  return discord.requests.filter((r) => r.method === 'PATCH' && r.path.includes(`/${token}/messages/`));
}

const file = { name: 'result.png', data: Buffer.from('89504e470d0a1a0a0000000d4948445200000080000000800806000000', 'hex') };

describe('progress reporter', () => {
  it('sends at most one edit per interval, one at a time, only the latest value', async () => {
    const { job, target } = await interaction();
    const message = new JobMessage(messages, target);
    const sent: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let lastSent!: () => void;
    const lastValueSent = new Promise<void>((resolve) => (lastSent = resolve));
    const reporter = new ProgressReporter<number>({
      intervalMs: 200,
      send: async (step) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        sent.push(step);
        if (step === 100) lastSent();
        try {
          await message.editProgress(renderProgress(job, { step, totalSteps: 100, etaUnixSeconds: null, preview: null }));
        } finally {
          inFlight--;
        }
      },
    });
    const start = Date.now();
    for (let step = 1; step <= 100; step++) {
      reporter.offer(step);
      await new Promise((r) => setTimeout(r, 10)); // a fast sampler: a step every 10 ms
    }
    const elapsed = Date.now() - start;
    await lastValueSent; // the latest value is sent once the interval allows, however late that is
    await reporter.close();
    expect(maxInFlight).toBe(1);
    // Sends until the loop ended, plus the last value after it.
    expect(sent.length).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 2);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(sent).toEqual([...sent].sort((a, b) => a - b));
    expect(sent.at(-1)).toBe(100);
    const times = patchesOf(target.interactionToken).map((r) => r.receivedAt);
    for (let i = 1; i < times.length; i++) expect(at(times, i) - at(times, i - 1)).toBeGreaterThanOrEqual(190);
  });

  it('waits for retry_after after a 429 and counts it', async () => {
    const { job, target } = await interaction();
    const stop = discord.onRequest((req) =>
      req.method === 'PATCH' && req.path.includes(target.interactionToken) && patchesOf(target.interactionToken).length === 2
        ? {
            status: 429,
            json: { message: 'You are being rate limited.', retry_after: 0.5, global: false },
            headers: { 'retry-after': '0.5' },
          }
        : undefined,
    );
    const before = rateLimits;
    const message = new JobMessage(messages, target);
    const reporter = new ProgressReporter<number>({
      intervalMs: 50,
      send: (step) => message.editProgress(renderProgress(job, { step, totalSteps: 100, etaUnixSeconds: null, preview: null })),
    });
    for (let step = 1; step <= 60; step++) {
      reporter.offer(step);
      await new Promise((r) => setTimeout(r, 20));
    }
    // The edit after the 429 (the latest value is still pending), however late the loop made it.
    await discord.waitForRequest(() => patchesOf(target.interactionToken).length >= 3);
    await reporter.close();
    stop();
    const patches = patchesOf(target.interactionToken);
    const limited = patches.findIndex((r) => r.response?.status === 429);
    expect(limited).toBe(1);
    expect(at(patches, limited + 1).receivedAt - at(patches, limited).receivedAt).toBeGreaterThanOrEqual(490);
    expect(rateLimits - before).toBe(1);
  });
});

describe('final delivery', () => {
  it('edits the original message while the token is valid', async () => {
    const { job, target, original } = await interaction();
    const result = await new JobMessage(messages, target).deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job));
    expect(result).toEqual({ route: 'interaction', messageId: original.id });
    expect(discord.messages.get(original.id)!.attachments.map((a) => a.filename)).toEqual(['result.png']);
  });

  it('retries a rate-limited final edit after retry_after', async () => {
    const { job, target, original } = await interaction();
    let answered = false;
    const stop = discord.onRequest((req) => {
      if (req.method !== 'PATCH' || !req.path.includes(target.interactionToken) || answered) return undefined;
      answered = true;
      return {
        status: 429,
        json: { message: 'You are being rate limited.', retry_after: 0.3, global: false },
        headers: { 'retry-after': '0.3' },
      };
    });
    const result = await new JobMessage(messages, target).deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job));
    stop();
    expect(result.route).toBe('interaction');
    const patches = patchesOf(target.interactionToken);
    expect(patches.map((r) => r.response?.status)).toEqual([429, 200]);
    expect(at(patches, 1).receivedAt - at(patches, 0).receivedAt).toBeGreaterThanOrEqual(290);
    expect(discord.messages.get(original.id)!.components).toHaveLength(4);
  });

  it('makes the final edit wait out a rate limit that a progress edit hit', async () => {
    const { job, target } = await interaction();
    const stop = discord.onRequest((req) =>
      req.method === 'PATCH' && req.path.includes(target.interactionToken) && patchesOf(target.interactionToken).length === 1
        ? {
            status: 429,
            json: { message: 'You are being rate limited.', retry_after: 0.4, global: false },
            headers: { 'retry-after': '0.4' },
          }
        : undefined,
    );
    const message = new JobMessage(messages, target);
    await expect(
      message.editProgress(renderProgress(job, { step: 1, totalSteps: 2, etaUnixSeconds: null, preview: null })),
    ).rejects.toThrow('rate limited');
    await message.deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job));
    stop();
    const patches = patchesOf(target.interactionToken);
    expect(patches.map((r) => r.response?.status)).toEqual([429, 200]);
    expect(at(patches, 1).receivedAt - at(patches, 0).receivedAt).toBeGreaterThanOrEqual(390);
  });

  it('posts to the channel, replying and mentioning, once the token is within its safety margin', async () => {
    const { job, target, original, user } = await interaction();
    const message = new JobMessage(
      messages,
      { ...target, interactionTokenExpiresAt: new Date(Date.now() + 30_000) },
      { tokenMarginMs: 60_000 },
    );
    expect(message.canEditOriginal()).toBe(false);
    const result = await message.deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job));
    expect(result.route).toBe('channel');
    const posted = discord.messages.get(result.messageId)!;
    expect(posted.messageReference).toMatchObject({ message_id: original.id });
    expect(posted.mentions).toEqual([user.id]);
    expect(patchesOf(target.interactionToken)).toEqual([]);
    // The original no longer offers Cancel and points to the reply (edited with the bot token).
    const old = discord.messages.get(original.id)!;
    expect(old.content).toContain('the result is in the reply below');
    expect(old.components).toEqual([]);
  });

  it('falls back to the channel when Discord says the token is invalid (50027)', async () => {
    const { job, target } = await interaction();
    discord.expireInteractionToken(target.interactionToken);
    const message = new JobMessage(messages, target);
    await expect(
      message.editProgress(renderProgress(job, { step: 1, totalSteps: 2, etaUnixSeconds: null, preview: null })),
    ).rejects.toThrow('no longer valid');
    expect(message.canEditOriginal()).toBe(false);
    const result = await message.deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job));
    expect(result.route).toBe('channel');
    expect(patchesOf(target.interactionToken).map((r) => r.response?.status)).toEqual([401]);
  });

  it('stops previews on a deleted message and posts the result without a reply reference', async () => {
    const { job, target, original } = await interaction();
    discord.messages.delete(discord.messages.get(original.id)!);
    const message = new JobMessage(messages, target);
    await expect(
      message.editProgress(renderProgress(job, { step: 1, totalSteps: 2, etaUnixSeconds: null, preview: null })),
    ).rejects.toThrow('deleted');
    const result = await message.deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job));
    expect(result.route).toBe('channel');
    expect(discord.messages.get(result.messageId)!.messageReference).toBeNull();
    expect(patchesOf(target.interactionToken)).toHaveLength(1); // no second try on a gone message
  });

  it('gives up at once on a rate limit longer than its wait budget, the one a progress edit left included', async () => {
    const { job, target } = await interaction();
    const limited = {
      status: 429,
      json: { message: 'You are being rate limited.', retry_after: 60, global: false },
      headers: { 'retry-after': '60' },
    };
    const stop = discord.onRequest((req) => (req.method === 'PATCH' || req.method === 'POST' ? limited : undefined));
    const message = new JobMessage(messages, target, { maxRateLimitWaitMs: 2000 });
    await expect(
      message.editProgress(renderProgress(job, { step: 1, totalSteps: 2, etaUnixSeconds: null, preview: null })),
    ).rejects.toThrow('rate limited');
    const startedAt = Date.now();
    await expect(message.deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job))).rejects.toThrow(
      /interaction edit: rate limited.*; channel message: rate limited/,
    );
    // Neither Discord's 60 s nor anything near it was waited.
    expect(Date.now() - startedAt).toBeLessThan(1500);
    stop();
  });

  it('aborts a final edit Discord does not answer once its deadline passes', async () => {
    const { job, target } = await interaction();
    const held = discord.holdNext((r) => r.method === 'PATCH' && r.path.includes(target.interactionToken), 5000);
    const startedAt = Date.now();
    const delivery = new JobMessage(messages, target).deliver(
      renderResult(job, { file, seeds: [7] }),
      renderSuperseded(job),
      startedAt + 500,
    );
    await held;
    await expect(delivery).rejects.toThrow(/could not deliver the result: interaction edit: .*abort.*; channel message: /i);
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it('reports every failed route when nothing works', async () => {
    const { job, target } = await interaction();
    const stop = discord.onRequest(() => ({ status: 403, json: { message: 'Missing Access', code: 50001 } }));
    await expect(new JobMessage(messages, target).deliver(renderResult(job, { file, seeds: [7] }), renderSuperseded(job))).rejects.toThrow(
      /interaction edit: .*Missing Access.*; channel message: .*Missing Access/,
    );
    stop();
  });
});

describe('metrics', () => {
  it('renders Prometheus text with labels and cumulative histogram buckets', () => {
    const m = createWorkerMetrics();
    m.jobs.inc({ outcome: 'succeeded' });
    m.jobs.inc({ outcome: 'succeeded' });
    m.jobs.inc({ outcome: 'failed' });
    m.jobSeconds.observe(0.7);
    m.jobSeconds.observe(3);
    m.queueDepth.set(4, { model: 'shapes-demo' });
    const text = m.registry.render();
    expect(text).toContain(
      '# TYPE imagine_jobs_total counter\nimagine_jobs_total{outcome="succeeded"} 2\nimagine_jobs_total{outcome="failed"} 1\n',
    );
    expect(text).toContain('imagine_job_duration_seconds_bucket{le="0.5"} 0\nimagine_job_duration_seconds_bucket{le="1"} 1\n');
    expect(text).toContain('imagine_job_duration_seconds_bucket{le="5"} 2\n');
    expect(text).toContain(
      'imagine_job_duration_seconds_bucket{le="+Inf"} 2\nimagine_job_duration_seconds_sum 3.7\nimagine_job_duration_seconds_count 2\n',
    );
    expect(text).toContain('imagine_queue_depth{model="shapes-demo"} 4\n');
    expect(() => m.jobs.inc({}, -1)).toThrow('can only go up');
  });
});
