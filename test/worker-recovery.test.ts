// Failure handling with real worker processes: kill -9 mid-job, two workers sharing one
// queue, graceful shutdown handing a job back, and a Redis crash with jobs waiting (on a
// private redis-server with AOF; the machine's shared Redis is never restarted).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { cancelJob, getJob, listImages, type Job } from '../src/db/index.js';
import { advertisedInfo, PipelineHost } from '../src/pipeline/index.js';
import { liveModels, liveWorkers, workerKey } from '../src/queue/index.js';
import { GenerationWorker } from '../src/worker/runner.js';
import { ProcessInspector, inspectorUrl } from './support/inspector.js';
import { startPrivateRedis, type PrivateRedis } from './support/redis.js';
import { DEMO_MODEL, MODELS_DIR, WorkerHarness } from './support/worker-harness.js';

const FAST_RECOVERY = { lockDurationMs: 2000, stalledIntervalMs: 500 };
/** The pipeline thread's script (src/pipeline/host.ts starts it; under tsx through thread-loader.mjs). */
const PIPELINE_THREAD = /\/pipeline\/(thread-loader\.mjs|host-thread\.js)$/;
/**
 * These tests start worker processes one after another (each loads the model) and wait for
 * locks to expire: on two busy cores that alone can take most of vitest's default minute.
 * What they prove is that nothing is lost, not how fast.
 */
const RECOVERY = { timeout: 180_000 };

describe('worker recovery (shared Redis)', RECOVERY, () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await WorkerHarness.start('wrecovery');
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('completes a job once after its worker is killed with SIGKILL mid-generation', async () => {
    const first = h.spawnWorker(FAST_RECOVERY);
    await first.ready;
    const user = h.discord.user('kim');
    const { job } = await h.newJob({ user, params: { steps: 80, count: 2 } });
    await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!), 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    expect((await getJob(h.pg.db, job.id))!.status).toBe('running');

    const second = h.spawnWorker(FAST_RECOVERY);
    await second.ready;
    const done = await h.waitForDelivery(job.id, 120_000);
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(2);
    expect(done.workerId).toBe(`${done.workerId!.split(':')[0]}:${second.child.pid}`);
    expect(h.finalEdits(job)).toHaveLength(1);
    expect((await listImages(h.pg.db, job.id)).map((i) => i.index)).toEqual([0, 1]);
    expect(await h.ledgerKinds(job.id)).toEqual(['charge']);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('fails and refunds a job whose workers keep dying, and tells the user', async () => {
    const user = h.discord.user('pia');
    const { job } = await h.newJob({ user, params: { steps: 150 } });
    // BullMQ takes a job over after a crash twice (maxStalledCount 2); the third crash ends it.
    for (let run = 1; run <= 3; run++) {
      const doomed = h.spawnWorker(FAST_RECOVERY);
      await h.waitForJob(job.id, (j) => j.attempts === run && j.status === 'running', `claimed ${run} times`, 60_000);
      doomed.child.kill('SIGKILL');
      await doomed.exited;
    }
    const last = h.spawnWorker(FAST_RECOVERY);
    const done = await h.waitForDelivery(job.id, 60_000);
    expect(done.status).toBe('failed');
    expect(done.attempts).toBe(3);
    expect(done.error).toContain('stopped too many times');
    expect(await h.ledgerKinds(job.id)).toEqual(['charge', 'refund']);
    const shown = h.discord.messages.get(job.messageId!)!;
    expect(shown.content).toContain('failed: the job stopped too many times');
    expect(shown.components).toEqual([]);
    last.child.kill('SIGTERM');
    await last.exited;
  });

  it('hands the running job back on SIGTERM after the grace period, and another worker finishes it', async () => {
    // The longest job there is (150 steps, 4 images) against a short grace: on a fast machine a
    // 1-image job finished inside the 1 s grace and there was nothing left to hand back.
    const leaving = h.spawnWorker({ ...FAST_RECOVERY, env: { SHUTDOWN_GRACE_MS: '1000' } });
    await leaving.ready;
    const user = h.discord.user('gus');
    const { job } = await h.newJob({ user, params: { steps: 150, count: 4 } });
    await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!), 60_000);
    const signalledAt = Date.now();
    leaving.child.kill('SIGTERM');
    expect(await leaving.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    const state = await (await h.queues.forModel(DEMO_MODEL).getJob(job.id))!.getState();
    expect(['waiting', 'prioritized']).toContain(state);

    const next = h.spawnWorker(FAST_RECOVERY);
    const done = await h.waitForDelivery(job.id, 180_000);
    expect(done.status).toBe('succeeded');
    expect(done.workerId).toMatch(new RegExp(`:${next.child.pid}$`));
    expect(h.finalEdits(job)).toHaveLength(1);
    expect(await h.ledgerKinds(job.id)).toEqual(['charge']);
    next.child.kill('SIGTERM');
    await next.exited;
  });

  it('exits 1 at once on a second SIGTERM while waiting out the grace period, handing the running job back', async () => {
    const leaving = h.spawnWorker({ ...FAST_RECOVERY, env: { SHUTDOWN_GRACE_MS: '120000' } });
    await leaving.ready;
    const user = h.discord.user('hal');
    const { job } = await h.newJob({ user, params: { steps: 150, count: 1 } });
    await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!), 60_000);
    leaving.child.kill('SIGTERM');
    await leaving.waitForLine((l) => l.includes('"msg":"shutting down"'));
    leaving.child.kill('SIGTERM');
    expect(await leaving.exited).toBe(1);
    expect(leaving.lines.some((l) => l.includes('second signal while shutting down: exiting now'))).toBe(true);
    // It waited neither for the job (150 steps) nor for the 120 s grace: the job is back on the queue, undelivered.
    const state = await (await h.queues.forModel(DEMO_MODEL).getJob(job.id))!.getState();
    expect(['waiting', 'prioritized']).toContain(state);
    expect((await getJob(h.pg.db, job.id))!.deliveredAt).toBeNull();
    // Cancelled, so that the next test's workers skip it.
    await cancelJob(h.pg.db, job.id, user.id);
  });

  it('a stale run (its BullMQ lock removed mid-job, two workers) never edits the message after the final result', async () => {
    const workers = [h.spawnWorker(FAST_RECOVERY), h.spawnWorker(FAST_RECOVERY)];
    await Promise.all(workers.map((w) => w.ready));
    const user = h.discord.user('sam');
    const { job } = await h.newJob({ user, params: { steps: 150, count: 4 } });
    await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!), 60_000);
    const runner = (await getJob(h.pg.db, job.id))!.workerId!;
    const stale = workers.find((w) => runner.endsWith(`:${w.child.pid}`))!;
    const fresh = workers.find((w) => w !== stale)!;
    // The lock vanishes (a Redis failover, an eviction): BullMQ's stalled check gives the job
    // to the idle worker while the first one still runs it.
    const removedAt = Date.now();
    expect(await h.redis.del(`${h.prefix}:gen-${DEMO_MODEL}:${job.id}:lock`)).toBe(1);
    await h.waitForJob(job.id, (j) => j.attempts === 2, 'claimed again', 60_000);
    const reclaimedMs = Date.now() - removedAt;

    const done = await h.waitForDelivery(job.id, 180_000);
    expect([done.status, done.attempts, done.workerId]).toEqual(['succeeded', 2, `${runner.split(':')[0]}:${fresh.child.pid}`]);
    const finals = h.finalEdits(job);
    expect(finals).toHaveLength(1);
    // Nothing touched the message after the result: no preview, no second result.
    await new Promise((r) => setTimeout(r, 1000));
    const edits = h.discord.requests.filter((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!));
    expect(edits.at(-1)).toBe(finals[0]);
    expect(await h.ledgerKinds(job.id)).toEqual(['charge']);
    expect(stale.lines.some((l) => l.includes(job.id) && l.includes('"msg":"delivered"'))).toBe(false);
    // The stale run learnt it from its fence read before a preview, and stopped.
    const stopped = JSON.parse(await stale.waitForLine((l) => l.includes(job.id) && l.includes('no longer this run'), 5000)) as {
      time: number;
      state: string;
    };
    expect(stopped.state).toBe('superseded');
    const staleStoppedMs = stopped.time - removedAt;
    console.log(
      `lock removed: claimed again after ${reclaimedMs} ms, stale run stopped after ${staleStoppedMs} ms, result delivered once after ${Date.now() - removedAt - 1000} ms`,
    );
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  });

  it('shares twenty jobs from three users between two workers: each done once, the lone job not last', async () => {
    const [ann, ben, cat] = [h.discord.user('ann'), h.discord.user('ben'), h.discord.user('cat')];
    const jobs: { job: Job; owner: string }[] = [];
    const small = { steps: 3, count: 1 };
    for (let i = 0; i < 12; i++) jobs.push({ job: (await h.newJob({ user: ann, params: small })).job, owner: 'ann' });
    for (let i = 0; i < 7; i++) jobs.push({ job: (await h.newJob({ user: ben, params: small })).job, owner: 'ben' });
    jobs.push({ job: (await h.newJob({ user: cat, params: small })).job, owner: 'cat' });
    // Everything is queued before the workers start, so the order is the queue's alone:
    // first-in-first-out would serve cat's job last.
    const workers = [h.spawnWorker(), h.spawnWorker()];

    const done = await Promise.all(jobs.map(({ job }) => h.waitForDelivery(job.id, 240_000)));
    expect(done.map((j) => j.status)).toEqual(jobs.map(() => 'succeeded'));
    for (const { job } of jobs) expect(h.finalEdits(job)).toHaveLength(1);
    expect(new Set(done.map((j) => j.workerId)).size).toBe(2);

    const finishOrder = [...done].sort((a, b) => a.finishedAt!.getTime() - b.finishedAt!.getTime()).map((j) => j.id);
    const catRank = finishOrder.indexOf(jobs.at(-1)!.job.id);
    // Fair priority: cat's only job waits only for the other users' first jobs (priority 1),
    // not for ann's and ben's bursts.
    expect(catRank).toBeLessThan(4);
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  });
});

describe('worker with a dead pipeline', RECOVERY, () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await WorkerHarness.start('wdead');
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('stops taking jobs and reports unhealthy once its pipeline thread is gone', async () => {
    const host = await PipelineHost.start({ modelDir: join(MODELS_DIR, DEMO_MODEL), provider: 'cpu' });
    const worker = await GenerationWorker.start({
      ...h.processorDeps('test:1'),
      generators: new Map([[DEMO_MODEL, host]]),
      models: [advertisedInfo(host.model)],
      pollIntervalMs: 100,
    });
    try {
      expect(worker.health().ok).toBe(true);
      await host.close(); // the thread is gone, as after a crash
      const deadline = Date.now() + 5000;
      while (worker.health().checks.consuming?.ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const health = worker.health();
      expect(health.ok).toBe(false);
      expect(health.checks.pipelines).toEqual({ ok: false, detail: `dead: ${DEMO_MODEL}` });
      expect(health.checks.consuming?.ok).toBe(false);
      // Left for a healthy worker: the one started now runs it, this one never claims it.
      const user = h.discord.user('zed');
      const { job } = await h.newJob({ user, params: { steps: 2, count: 1 } });
      const healthy = h.spawnWorker();
      const done = await h.waitForDelivery(job.id, 120_000);
      expect([done.status, done.attempts, done.workerId]).toEqual(['succeeded', 1, `${done.workerId!.split(':')[0]}:${healthy.child.pid}`]);
      healthy.child.kill('SIGTERM');
      await healthy.exited;
    } finally {
      await worker.close(1000);
    }
  });

  it('hands its job back, stops advertising and asks to exit when its pipeline thread dies mid-job; another worker delivers it once', async () => {
    const host = await PipelineHost.start({ modelDir: join(MODELS_DIR, DEMO_MODEL), provider: 'cpu' });
    const deaths: { model: string; at: number }[] = [];
    const worker = await GenerationWorker.start({
      ...h.processorDeps('test:2'),
      generators: new Map([[DEMO_MODEL, host]]),
      models: [advertisedInfo(host.model)],
      lockDurationMs: FAST_RECOVERY.lockDurationMs,
      stalledIntervalMs: FAST_RECOVERY.stalledIntervalMs,
      // What main.ts does here: close the worker and exit 1 for the supervisor to restart it.
      onPipelineDeath: (model) => deaths.push({ model, at: Date.now() }),
    });
    try {
      expect(await liveModels(h.redis, h.prefix)).toEqual([advertisedInfo(host.model)]);
      const user = h.discord.user('una');
      const { job } = await h.newJob({ user, params: { steps: 150, count: 2 } });
      await h.discord.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(job.interactionToken!), 60_000);
      expect((await getJob(h.pg.db, job.id))!.workerId).toBe('test:2');
      // The thread ends between two steps of the job, as a crash of the thread looks to the
      // worker: the generation rejects with "pipeline thread exited" and the host is unhealthy.
      const killedAt = Date.now();
      await host.close();
      const deadline = Date.now() + 10_000;
      while (deaths.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(deaths.map((d) => d.model)).toEqual([DEMO_MODEL]);
      const noticedMs = at(deaths, 0).at - killedAt;
      // No longer advertised (its only model: the key is gone), the job back on the queue unspent.
      expect(await h.redis.exists(workerKey(h.prefix, 'test:2'))).toBe(0);
      expect(await liveModels(h.redis, h.prefix)).toEqual([]);
      const bullJob = (await h.queues.forModel(DEMO_MODEL).getJob(job.id))!;
      const handedBack = Date.now() + 10_000;
      while ((await bullJob.getState()) === 'active' && Date.now() < handedBack) await new Promise((r) => setTimeout(r, 20));
      expect(['waiting', 'prioritized']).toContain(await bullJob.getState());
      expect(bullJob.attemptsMade).toBe(0);
      expect(worker.health().checks.pipelines).toEqual({ ok: false, detail: `dead: ${DEMO_MODEL}` });

      const healthy = h.spawnWorker(FAST_RECOVERY);
      const done = await h.waitForDelivery(job.id, 120_000);
      expect([done.status, done.attempts, done.workerId]).toEqual(['succeeded', 2, `${done.workerId!.split(':')[0]}:${healthy.child.pid}`]);
      expect(h.finalEdits(job)).toHaveLength(1);
      expect(await h.ledgerKinds(job.id)).toEqual(['charge']);
      console.log(
        `pipeline thread killed: death noticed and job handed back after ${noticedMs} ms, delivered by the next worker after ${Date.now() - killedAt} ms`,
      );
      healthy.child.kill('SIGTERM');
      await healthy.exited;
    } finally {
      await worker.close(1000);
    }
  });
  it('a worker process whose pipeline thread dies stops advertising and exits 1; a healthy worker takes the next job', async () => {
    const dying = h.spawnWorker({ ...FAST_RECOVERY, nodeArgs: ['--inspect=127.0.0.1:0'] });
    const inspector = await ProcessInspector.connect(
      inspectorUrl(await dying.waitForLine((l) => l.includes('Debugger listening on ws://'))),
    );
    try {
      await dying.ready;
      await inspector.waitForThreads(1, PIPELINE_THREAD);
      const advertised = async () => (await liveWorkers(h.redis, h.prefix)).some((w) => w.id.endsWith(`:${dying.child.pid}`));
      expect(await advertised()).toBe(true);
      // process.exit inside a worker thread ends that thread alone: the pipeline thread dies
      // (idle, as after an uncaught error in it), with no hook in the worker's code.
      const killedAt = Date.now();
      await inspector.runInThreads('process.exit(1)', PIPELINE_THREAD);
      // A thread (or process) with a debugger attached waits for it to go before it exits.
      inspector.close();
      expect(await dying.exited).toBe(1);
      const exitedMs = Date.now() - killedAt;
      expect(await advertised()).toBe(false);
      expect(dying.lines.some((l) => l.includes('a pipeline thread died: shutting down to be restarted (exit 1)'))).toBe(true);

      const user = h.discord.user('vic');
      const { job } = await h.newJob({ user, params: { steps: 2, count: 1 } });
      const healthy = h.spawnWorker();
      const done = await h.waitForDelivery(job.id, 120_000);
      expect([done.status, done.attempts, done.workerId]).toEqual(['succeeded', 1, `${done.workerId!.split(':')[0]}:${healthy.child.pid}`]);
      console.log(`pipeline thread of a worker process ended: the process exited 1 after ${exitedMs} ms`);
      healthy.child.kill('SIGTERM');
      await healthy.exited;
    } finally {
      inspector.close();
    }
  });
});

describe('worker recovery (private Redis restarted)', RECOVERY, () => {
  let redis: PrivateRedis;
  let h: WorkerHarness;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    h = await WorkerHarness.start('wredis', { redisUrl: redis.url });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await redis?.destroy();
  });

  it('loses no waiting job when Redis crashes and restarts, and keeps consuming afterwards', async () => {
    const user = h.discord.user('rex');
    const before = [];
    for (let i = 0; i < 4; i++) before.push((await h.newJob({ user, params: { steps: 3, count: 1 } })).job);
    await redis.stop('SIGKILL'); // a crash: only what the AOF (fsync always) holds survives
    await redis.start();

    const worker = h.spawnWorker();
    const port = await worker.ready;
    for (const job of before) expect((await h.waitForDelivery(job.id, 120_000)).status).toBe('succeeded');

    // An outage longer than BullMQ's drainDelay (5 s) while the worker waits for jobs:
    // it must reconnect and consume again (bullmq#4585, fixed in the installed 6.x).
    await redis.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 7000));
    await redis.start();
    const after = (await h.newJob({ user, params: { steps: 3, count: 1 } })).job;
    expect((await h.waitForDelivery(after.id, 120_000)).status).toBe('succeeded');
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
  });
});
