// The worker end to end with one real worker process: real Postgres, real Redis, the real
// pipeline on the demo model, and the local Discord API server.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { cancelJob, getJob, listImages } from '../src/db/index.js';
import { readPngParameters } from '../src/images/png.js';
import { publishCancel } from '../src/queue/index.js';
import type { RecordedRequest } from './discord/server.js';
import { WorkerHarness, type WorkerProcess } from './support/worker-harness.js';
import { SINGLE_IMAGE_BUTTONS } from './support/labels.js';

let h: WorkerHarness;
let worker: WorkerProcess;

beforeAll(async () => {
  h = await WorkerHarness.start('worker');
  // The reconciler only at start: a later run could remove the cancelled job's queue entry
  // before the worker skips it, which is what one test here checks.
  worker = h.spawnWorker({ env: { RECONCILE_INTERVAL_MS: '3600000' } });
  await worker.ready;
}, 120_000);

afterAll(async () => {
  await h?.close();
});

/** Requests that edited or posted messages for this interaction token or channel, in order. */
function editsOf(token: string): RecordedRequest[] {
  return h.discord.requests.filter((r) => r.method === 'PATCH' && r.path.includes(`/${token}/messages/`));
}

function buttonLabels(json: { components?: { components: { label: string }[] }[] }): string[] {
  return (json.components ?? []).flatMap((row) => row.components.map((b) => b.label));
}

async function ledgerKinds(jobId: string): Promise<string[]> {
  const rows = await h.pg.sql<{ kind: string }[]>`select kind from quota_ledger where job_id = ${jobId} order by id`;
  return rows.map((r) => r.kind);
}

describe('worker', () => {
  it('runs a job queued -> running -> succeeded, with previews before one final edit carrying the grid and 10 buttons', async () => {
    const user = h.discord.user('alice');
    const { job } = await h.newJob({ user, params: { steps: 8 } });
    expect(job.status).toBe('queued');
    await h.waitForJob(job.id, (j) => j.status !== 'queued', 'picked up');
    const done = await h.waitForDelivery(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.workerId).toMatch(/:\d+$/);
    expect(done.startedAt).not.toBeNull();
    expect(done.finishedAt).not.toBeNull();

    const edits = editsOf(job.interactionToken!).filter((r) => r.response?.status === 200);
    const finalIndex = edits.findIndex((r) => buttonLabels(r.json).includes('U1'));
    expect(finalIndex).toBeGreaterThanOrEqual(1);
    expect(edits.slice(finalIndex + 1)).toEqual([]); // nothing after the final edit
    const previews = edits.slice(0, finalIndex);
    expect(previews.length).toBeGreaterThanOrEqual(1);
    expect(at(previews, 0).json.content).toMatch(/step \d+\/8 \(\d+%\)/);
    const firstWithImage = previews.findIndex((r) => r.files.length === 1);
    expect(firstWithImage).toBeGreaterThanOrEqual(0);
    // Once shown, the preview stays: no progress edit removes it.
    for (const r of previews.slice(firstWithImage)) expect(r.files.map((f) => f.name)).toEqual(['preview.webp']);
    const preview = at(previews, firstWithImage);
    expect(at(preview.files, 0).name).toBe('preview.webp');
    expect(at(preview.files, 0).data.length).toBeLessThan(100 * 1024);
    expect((await sharp(at(preview.files, 0).data).metadata()).width).toBe(256);

    const final = at(edits, finalIndex);
    expect(buttonLabels(final.json)).toEqual(['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'Replay']);
    expect(final.json.content).toContain(`Job \`${job.id}\``);
    expect(final.json.content).toContain('seeds 1234, 1235, 1236, 1237');
    expect(final.files).toHaveLength(1);
    const grid = await sharp(at(final.files, 0).data).metadata();
    expect([grid.format, grid.width, grid.height]).toEqual(['png', 128 * 2 + 4, 128 * 2 + 4]);
    // The message in Discord shows the result with only the grid attached.
    const message = h.discord.messages.get(done.messageId!)!;
    expect(message.attachments.map((a) => a.filename)).toEqual([`${job.id}.png`]);

    const images = await listImages(h.pg.db, job.id);
    expect(images.map((i) => [i.index, i.seed])).toEqual([
      [0, 1234],
      [1, 1235],
      [2, 1236],
      [3, 1237],
    ]);
    expect(readPngParameters(at(images, 0).png!)).toContain('Seed: 1234');
    expect(await ledgerKinds(job.id)).toEqual(['charge']);
  });

  it('runs a variation from the parent image and shows the single-image buttons for count 1', async () => {
    const user = h.discord.user('vera');
    const { job: parent } = await h.newJob({ user, params: { steps: 4, count: 2 } });
    await h.waitForDelivery(parent.id);
    const { job } = await h.newJob({
      user,
      kind: 'variation',
      parent: { jobId: parent.id, index: 1 },
      params: { steps: 4, count: 1, seed: 99, init: { jobId: parent.id, index: 1, strength: 0.6 } },
    });
    const done = await h.waitForDelivery(job.id);
    expect(done.status).toBe('succeeded');
    const final = editsOf(job.interactionToken!).at(-1)!;
    expect(buttonLabels(final.json)).toEqual([...SINGLE_IMAGE_BUTTONS, 'Replay']);
    const image = at(await listImages(h.pg.db, job.id), 0);
    expect(readPngParameters(image.png!)).toContain('Denoising strength: 0.6');
  });

  it('keeps to one edit per interval when Discord answers 429 to every third edit, and still delivers', async () => {
    let patches = 0;
    const stop = h.discord.onRequest((req) => {
      if (req.method !== 'PATCH' || !/^\/webhooks\/[^/]+\/[^/]+\/messages\//.test(req.path)) return undefined;
      patches += 1;
      if (patches % 3 !== 0) return undefined;
      return {
        status: 429,
        json: { message: 'You are being rate limited.', retry_after: 0.4, global: false },
        headers: { 'retry-after': '0.4' },
      };
    });
    try {
      const user = h.discord.user('rita');
      const { job } = await h.newJob({ user, params: { steps: 30 } });
      const done = await h.waitForDelivery(job.id);
      expect(done.status).toBe('succeeded');
      const edits = editsOf(job.interactionToken!);
      const ok = edits.filter((r) => r.response?.status === 200);
      expect(buttonLabels(ok.at(-1)!.json)).toContain('U1');
      expect(edits.some((r) => r.response?.status === 429)).toBe(true);
      // No storm: never two progress edits of this message closer than the 200 ms
      // interval (the final edit, and its retry after a 429, may follow sooner).
      const times = edits.filter((r) => !buttonLabels(r.json).includes('U1')).map((r) => r.receivedAt);
      for (let i = 1; i < times.length; i++) expect(at(times, i) - at(times, i - 1)).toBeGreaterThanOrEqual(190);
      // After a 429 the next edit waits for retry_after (400 ms).
      edits.forEach((r, i) => {
        const next = edits[i + 1];
        if (r.response?.status === 429 && next !== undefined) expect(next.receivedAt - r.receivedAt).toBeGreaterThanOrEqual(390);
      });
    } finally {
      stop();
    }
  });

  it('posts the result as a channel message mentioning the user when the interaction token has expired', async () => {
    const user = h.discord.user('tom');
    const { job, message } = await h.newJob({ user, params: { steps: 4 } });
    h.discord.expireInteractionToken(job.interactionToken!);
    const done = await h.waitForDelivery(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.deliveryError).toBeNull();
    const post = h.discord.requests.find(
      (r) => r.method === 'POST' && r.path === `/channels/${job.channelId}/messages` && r.json?.content?.includes(job.id),
    )!;
    expect(post.response?.status).toBe(200);
    expect(post.headers.authorization).toBe(`Bot ${h.discord.botToken}`);
    expect(post.json.message_reference).toMatchObject({ message_id: message.id });
    expect(buttonLabels(post.json)).toContain('V4');
    const posted = h.discord.messages.get(done.messageId!)!;
    expect(posted.mentions).toEqual([user.id]);
    expect(posted.attachments).toHaveLength(1);
    expect(h.discord.messages.get(message.id)!.content).toContain('the result is in the reply below');
  });

  it('stops previews when the message was deleted and posts the result in the channel', async () => {
    const user = h.discord.user('dora');
    const { job, message } = await h.newJob({ user, params: { steps: 30 } });
    await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!), 30_000);
    h.discord.messages.delete(h.discord.messages.get(message.id)!);
    const done = await h.waitForDelivery(job.id);
    expect(done.status).toBe('succeeded');
    const edits = editsOf(job.interactionToken!);
    expect(edits.filter((r) => r.response?.status === 404)).toHaveLength(1); // previews stopped at the first 10008
    expect(done.messageId).not.toBe(message.id);
    expect(h.discord.messages.get(done.messageId!)!.mentions).toEqual([user.id]);
  });

  it('never runs a job cancelled while queued, and stops a running one at the next step; both refunded', async () => {
    const user = h.discord.user('carl');
    const { job: running } = await h.newJob({ user, params: { steps: 60 } });
    const { job: queued } = await h.newJob({ user, params: { steps: 4 } });
    await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(running.interactionToken!), 30_000);
    expect((await getJob(h.pg.db, queued.id))!.status).toBe('queued');

    expect(await cancelJob(h.pg.db, queued.id, user.id)).toEqual({ previousStatus: 'queued', cancelled: true });
    expect(await cancelJob(h.pg.db, running.id, user.id)).toEqual({ previousStatus: 'running', cancelled: true });
    const cancelSentAt = Date.now();
    await publishCancel(h.redis, h.prefix, running.id);

    const stopped = await h.waitForDelivery(running.id);
    expect(stopped.status).toBe('cancelled');
    expect(Date.now() - cancelSentAt).toBeLessThan(10_000);
    expect(buttonLabels(editsOf(running.interactionToken!).at(-1)!.json)).toEqual([]);
    expect(editsOf(running.interactionToken!).at(-1)!.json.content).toContain('cancelled');
    expect(await listImages(h.pg.db, running.id)).toEqual([]);

    // The queued one is picked up, seen cancelled, and skipped: never claimed.
    const bullJob = (await h.queues.forModel('shapes-demo').getJob(queued.id))!;
    const deadline = Date.now() + 20_000;
    while ((await bullJob.getState()) !== 'completed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await h.queues.forModel('shapes-demo').getJob(queued.id))!.returnvalue).toBe('skipped');
    const skipped = (await getJob(h.pg.db, queued.id))!;
    expect([skipped.status, skipped.attempts, skipped.workerId]).toEqual(['cancelled', 0, null]);
    expect(editsOf(queued.interactionToken!)).toEqual([]);
    expect(await ledgerKinds(running.id)).toEqual(['charge', 'refund']);
    expect(await ledgerKinds(queued.id)).toEqual(['charge', 'refund']);
  });

  it('stops a running job cancelled in Postgres alone (its pub/sub message lost) before its next preview, and shows the cancel', async () => {
    const user = h.discord.user('cleo');
    const { job } = await h.newJob({ user, params: { steps: 100, count: 1 } });
    await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!), 30_000);
    // What the Cancel button does, without the publish: the worker learns it from the fence read.
    expect(await cancelJob(h.pg.db, job.id, user.id)).toEqual({ previousStatus: 'running', cancelled: true });
    const cancelledAt = Date.now();
    const stopped = await h.waitForDelivery(job.id);
    const latencyMs = Date.now() - cancelledAt;
    expect(stopped.status).toBe('cancelled');
    // PREVIEW_INTERVAL_MS is 200 here: the next preview's read finds the cancel.
    expect(latencyMs).toBeLessThan(10_000);
    const edits = editsOf(job.interactionToken!).filter((r) => r.response?.status === 200);
    expect(edits.at(-1)!.json.content).toContain('cancelled');
    expect(buttonLabels(edits.at(-1)!.json)).toEqual([]);
    expect(await listImages(h.pg.db, job.id)).toEqual([]);
    expect(await ledgerKinds(job.id)).toEqual(['charge', 'refund']);
    await worker.waitForLine((l) => l.includes(job.id) && l.includes('no longer this run'), 5000);
  });

  it('fails a bad request at once, without retries, refunds it and says why', async () => {
    const user = h.discord.user('bea');
    // A size the database accepts but the model cannot make.
    const { job } = await h.newJob({ user, params: { width: 100, height: 128, steps: 4 } });
    const done = await h.waitForDelivery(job.id);
    expect(done.status).toBe('failed');
    expect(done.attempts).toBe(1);
    expect(done.error).toMatch(/shapes-demo.*100/);
    expect(await ledgerKinds(job.id)).toEqual(['charge', 'refund']);
    const shown = editsOf(job.interactionToken!).at(-1)!.json;
    expect(shown.content).toMatch(/failed: .*100/);
    expect(shown.content).toContain('refunded');
    const bullJob = (await h.queues.forModel('shapes-demo').getJob(job.id))!;
    expect([await bullJob.getState(), bullJob.attemptsMade]).toEqual(['failed', 1]);
  });

  it('reports health and Prometheus metrics', async () => {
    const port = await worker.ready;
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { checks: { consuming: { ok: boolean } } }).checks.consuming.ok).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^imagine_jobs_total\{outcome="succeeded"\} [1-9]/m);
    expect(metrics).toMatch(/^imagine_preview_edits_total [1-9]/m);
    expect(metrics).toMatch(/^imagine_discord_rate_limits_total [1-9]/m);
    expect(metrics).toMatch(/^imagine_job_duration_seconds_bucket\{le="\+Inf"\} [1-9]/m);
    expect(metrics).toMatch(/^imagine_queue_depth\{model="shapes-demo"\} 0/m);
  });
});
