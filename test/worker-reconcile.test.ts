// The reconciler with real worker processes, real Redis and Postgres (private servers where a
// test flushes or restarts them) and the local Discord API server: lost queue entries, a
// result whose delivery died with its worker, a Postgres outage at pickup, and a model whose
// last worker left. Short intervals come from the environment, as an operator would set them.
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelJob, claimJob, countActiveJobs, createJobWithReservation, getJob, type Job } from '../src/db/index.js';
import { escapeMarkdown } from '../src/discord/messages.js';
import { silentLogger } from '../src/log.js';
import { GenerationQueues, enqueueGeneration, queueNameForModel, type GenerationJobData } from '../src/queue/index.js';
import { RunningJobs } from '../src/worker/cancels.js';
import { GenerationProcessor } from '../src/worker/processor.js';
import { Reconciler, type ReconcilerOptions } from '../src/worker/reconciler.js';
import type { RecordedRequest } from './discord/server.js';
import { startPrivatePostgres, type PrivatePostgres } from './support/pg.js';
import { startPrivateRedis, type PrivateRedis } from './support/redis.js';
import { DEMO_MODEL, MODELS_DIR, WorkerHarness, hasResultButtons, type WorkerProcess } from './support/worker-harness.js';

/** Worker processes load the model slowly on busy cores; what these prove is that nothing is lost. */
const RECONCILE = { timeout: 300_000 };
const FAST_RECOVERY = { lockDurationMs: 2000, stalledIntervalMs: 500 };
const TINY = { steps: 2, count: 1 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function reconcileMetric(worker: WorkerProcess, action: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${await worker.ready}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`imagine_reconcile_actions_total{action="${action}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

function logged(worker: WorkerProcess, action: string, jobId: string): boolean {
  return worker.lines.some((l) => l.includes(`"msg":"reconcile: ${action}"`) && l.includes(`"jobId":"${jobId}"`));
}

describe('reconciler: Redis flushed with three jobs queued (private Redis)', RECONCILE, () => {
  let redis: PrivateRedis;
  let h: WorkerHarness;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    h = await WorkerHarness.start('rcflush', { redisUrl: redis.url });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await redis?.destroy();
  });

  it('enqueues the lost jobs again when a worker starts: all delivered within two intervals, and the user may submit at once', async () => {
    const user = h.discord.user('fay');
    const jobs: Job[] = [];
    for (let i = 0; i < 3; i++) jobs.push((await h.newJob({ user, params: TINY })).job);
    await h.redis.flushall();
    expect(await h.queues.forModel(DEMO_MODEL).count()).toBe(0);

    const intervalMs = 20_000;
    const worker = h.spawnWorker({ env: { RECONCILE_INTERVAL_MS: String(intervalMs) } });
    await worker.ready;
    const readyAt = Date.now();
    // Two intervals from the worker being ready: the waits themselves are the time limit.
    const done = await Promise.all(jobs.map((job) => h.waitForDelivery(job.id, 2 * intervalMs)));
    console.log(`redis flush: 3 jobs delivered ${Date.now() - readyAt} ms after the worker was ready (interval ${intervalMs} ms)`);
    expect(done.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    for (const job of jobs) {
      expect(h.finalEdits(job)).toHaveLength(1);
      expect(logged(worker, 'requeued', job.id)).toBe(true);
    }
    expect(await reconcileMetric(worker, 'requeued')).toBe(3);

    // MAX_JOBS_PER_USER's default: nothing of the lost jobs counts against the user any more.
    expect(await countActiveJobs(h.pg.db, user.id)).toBe(0);
    const handle = await h.discord.sendCommand({ name: 'imagine', options: [], user });
    await handle.response();
    const next = await createJobWithReservation(h.pg.db, {
      interactionId: handle.id,
      interactionToken: handle.token,
      userId: user.id,
      channelId: h.discord.channelId,
      guildId: h.discord.guild.id,
      kind: 'imagine',
      params: h.defaultParams(TINY),
      maxActiveJobs: 3,
      defaultLimit: 10_000,
    });
    expect(next.ok).toBe(true);
  });
});

describe('reconciler: results whose delivery died with its worker or was refused', RECONCILE, () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await WorkerHarness.start('rchold');
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('delivers the result once, through a replacement worker, after the dead claim ran out', async () => {
    const env = { RECONCILE_INTERVAL_MS: '1000', STALL_TIMEOUT_MS: '3000' };
    const first = h.spawnWorker({ ...FAST_RECOVERY, env });
    await first.ready;
    const isFinalEdit = (r: RecordedRequest) =>
      r.method === 'PATCH' && r.path.includes('/webhooks/') && hasResultButtons(r.json as { components?: unknown } | null);
    const held = h.discord.holdNext(isFinalEdit, 30_000);
    const user = h.discord.user('hob');
    const { job, message } = await h.newJob({ user, params: TINY });
    await held;
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await first.exited;
    const stranded = await h.waitForJob(job.id, () => true, 'read');
    expect([stranded.status, stranded.deliveredAt]).toEqual(['succeeded', null]);

    const second = h.spawnWorker({ ...FAST_RECOVERY, env });
    const done = await h.waitForJob(job.id, (j) => j.deliveredAt !== null, 'delivered', 120_000);
    console.log(
      `held final edit: result visible ${done.deliveredAt!.getTime() - killedAt} ms after kill -9 (${logged(second, 'redelivered', job.id) ? 'by the reconciler' : 'by the re-run'})`,
    );
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(1);
    // The held edit never took effect (its sender was gone); the replacement's did, once.
    expect(h.finalEdits(job)).toHaveLength(1);
    const shown = h.discord.messages.get(message.id)!;
    expect(hasResultButtons(shown)).toBe(true);
    expect(shown.edits.filter((e) => hasResultButtons(e.json as { components?: unknown } | null))).toHaveLength(1);
    expect(await h.ledgerKinds(job.id)).toEqual(['charge']);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('tries a refused final message three times, then the reconciler delivers it once Discord takes it', async () => {
    const worker = h.spawnWorker({ env: { RECONCILE_INTERVAL_MS: '1000' } });
    await worker.ready;
    // Discord refuses the result on both routes, three tries' worth (a short outage).
    let refused = 0;
    const stop = h.discord.onRequest((r) => {
      const resultRequest = (r.method === 'PATCH' || r.method === 'POST') && hasResultButtons(r.json as { components?: unknown } | null);
      if (!resultRequest || refused >= 6) return undefined;
      refused++;
      return { status: 403, json: { message: 'Missing Access', code: 50001 } };
    });
    try {
      const user = h.discord.user('ned');
      const { job, message } = await h.newJob({ user, params: TINY });
      await h.waitForJob(job.id, (j) => j.deliveryError !== null, 'failed to deliver', 60_000);
      const failedAt = Date.now();
      const done = await h.waitForJob(job.id, (j) => j.deliveredAt !== null, 'delivered', 60_000);
      console.log(`refused delivery: 3 tries failed, the reconciler delivered ${done.deliveredAt!.getTime() - failedAt} ms later`);
      expect([refused, done.deliveryError]).toEqual([6, null]);
      expect(worker.lines.filter((l) => l.includes('delivery failed; trying again') && l.includes(job.id))).toHaveLength(2);
      expect(logged(worker, 'redelivered', job.id)).toBe(true);
      expect(h.finalEdits(job)).toHaveLength(1);
      expect(hasResultButtons(h.discord.messages.get(message.id))).toBe(true);
    } finally {
      stop();
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  });
});

describe('reconciler: Postgres restarted while jobs are picked up (private cluster)', RECONCILE, () => {
  let pg: PrivatePostgres;
  let h: WorkerHarness;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    h = await WorkerHarness.start('rcpg', { pgAdminUrl: pg.adminUrl });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await pg?.destroy();
  });

  it('ends every job delivered: a pickup without Postgres goes back to the queue, and an older leftover failed on BullMQ is healed', async () => {
    const user = h.discord.user('ivo');
    // What such a pickup left before: the BullMQ job failed for good, its row still queued.
    const leftover = (await h.newJob({ user, params: TINY })).job;
    const oldWorker = new Worker<GenerationJobData>(
      queueNameForModel(DEMO_MODEL),
      () => Promise.reject(new UnrecoverableError('connect ECONNREFUSED (Postgres down)')),
      {
        connection: h.redis,
        prefix: h.prefix,
      },
    );
    await until(
      'the leftover failed on BullMQ',
      async () => (await h.queues.forModel(DEMO_MODEL).getJobState(leftover.id)) === 'failed',
      30_000,
    );
    await oldWorker.close();

    // One run at start, the next long after this test: what happens below is the pickup's doing.
    const worker = h.spawnWorker({ env: { RECONCILE_INTERVAL_MS: '120000' } });
    await worker.ready;
    expect((await h.waitForDelivery(leftover.id, 60_000)).status).toBe('succeeded');
    expect(logged(worker, 'requeued', leftover.id)).toBe(true);

    const jobs: Job[] = [];
    for (let i = 0; i < 3; i++) jobs.push((await h.newJob({ user, params: TINY, enqueue: false })).job);
    await pg.stop('fast');
    const stoppedAt = Date.now();
    for (const job of jobs) await enqueueGeneration(h.queues, { jobId: job.id, model: DEMO_MODEL, userActiveJobs: 1 });
    await worker.waitForLine((l) => l.includes('could not claim the job'), 30_000);
    // Longer than the three quick BullMQ attempts (200 ms backoff) that used to fail the jobs for good.
    await sleep(8000);
    await pg.start();
    const restartedAt = Date.now();

    const done = await Promise.all(jobs.map((job) => h.waitForDelivery(job.id, 60_000)));
    console.log(`postgres restart: down ${restartedAt - stoppedAt} ms; all 3 delivered ${Date.now() - restartedAt} ms after it was back`);
    expect(done.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    for (const job of jobs) {
      expect(h.finalEdits(job)).toHaveLength(1);
      // Never failed on BullMQ and healed afterwards: each stayed on its queue.
      expect(logged(worker, 'requeued', job.id)).toBe(false);
    }
    // delivered_at is set just before the processor returns; BullMQ moves the last job to
    // completed a moment later (past the wait, the assertion shows what is left).
    const counts = () => h.queues.forModel(DEMO_MODEL).getJobCounts('failed', 'wait', 'delayed', 'active');
    await until('the last BullMQ job completed', async () => (await counts()).active === 0, 10_000).catch(() => {});
    expect(await counts()).toEqual({
      failed: 0,
      wait: 0,
      delayed: 0,
      active: 0,
    });
    expect(worker.child.exitCode).toBeNull();
  });
});

describe('reconciler: the last worker of a model stopped for good', RECONCILE, () => {
  let h: WorkerHarness;
  let modelsDir: string;

  beforeAll(async () => {
    h = await WorkerHarness.start('rcgone');
    // The same model files under a second name: a worker serving another model, cheaply.
    modelsDir = await mkdtemp(join(tmpdir(), 'models-'));
    await symlink(resolve(MODELS_DIR, DEMO_MODEL), join(modelsDir, DEMO_MODEL));
    await symlink(resolve(MODELS_DIR, DEMO_MODEL), join(modelsDir, 'shapes-alt'));
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await rm(modelsDir, { recursive: true, force: true });
  });

  it('tells the waiting job once that no worker serves its model, then cancels and refunds it, saying why', async () => {
    const env = { MODELS_DIR: modelsDir, RECONCILE_INTERVAL_MS: '1000', NO_WORKER_TIMEOUT_MS: '3000', MAX_WAIT_MS: '10000' };
    const last = h.spawnWorker({ env: { ...env, WORKER_MODELS: DEMO_MODEL } });
    const other = h.spawnWorker({ env: { ...env, WORKER_MODELS: 'shapes-alt' } });
    await Promise.all([last.ready, other.ready]);
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);

    const user = h.discord.user('jo');
    const { job, message } = await h.newJob({ user, params: TINY });
    const createdAt = Date.now();
    const waits = `no worker for model \`${DEMO_MODEL}\` is online; your job waits.`;
    const waitEdits = () =>
      h.discord.messages.get(message.id)!.edits.filter((e) => String((e.json as { content?: unknown } | null)?.content).includes(waits));
    await until('the waits message', () => waitEdits().length > 0, 60_000);
    const toldAfter = Date.now() - createdAt;

    const done = await h.waitForJob(job.id, (j) => j.status === 'cancelled' && j.deliveredAt !== null, 'cancelled and told', 60_000);
    console.log(
      `no worker: told it waits after ${toldAfter} ms, cancelled after ${done.deliveredAt!.getTime() - createdAt} ms (NO_WORKER_TIMEOUT_MS 3000, MAX_WAIT_MS 10000)`,
    );
    expect(waitEdits()).toHaveLength(1);
    const shown = h.discord.messages.get(message.id)!;
    expect(shown.content).toContain(`cancelled: ${escapeMarkdown(`no worker for model ${DEMO_MODEL} came online within 10 s`)}`);
    expect(shown.content).toContain('Your quota was refunded.');
    expect(shown.components).toEqual([]);
    expect(shown.mentions).toEqual([user.id]);
    expect(await h.ledgerKinds(job.id)).toEqual(['charge', 'refund']);
    expect(await h.queues.forModel(DEMO_MODEL).getJob(job.id)).toBeUndefined();
    expect(logged(other, 'told_waiting', job.id) && logged(other, 'no_worker_cancelled', job.id)).toBe(true);
    expect(await reconcileMetric(other, 'no_worker_cancelled')).toBe(1);
    other.child.kill('SIGTERM');
    await other.exited;
  });
});

describe('reconciler in this process (real connections): leadership and stalled jobs', () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await WorkerHarness.start('rclead');
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  function workerReconciler(workerId: string, options: Partial<ReconcilerOptions> = {}) {
    const deps = h.processorDeps(workerId);
    const { metrics } = deps;
    const queues = new GenerationQueues({ connection: h.redis, prefix: h.prefix, onError: () => {} });
    const settler = new GenerationProcessor({
      ...deps,
      generators: new Map(),
      running: new RunningJobs(),
      onJobStart: () => {},
      onPipelineDeath: () => {},
    });
    const reconciler = new Reconciler({
      db: h.pg.db,
      redis: h.redis,
      prefix: h.prefix,
      workerId,
      queues,
      settler,
      models: [DEMO_MODEL],
      metrics,
      logger: silentLogger(),
      ...options,
    });
    return { metrics, queues, reconciler };
  }

  it('repairs once whichever worker leads; the others wait, and one takes over when the leader stops', async () => {
    const first = workerReconciler('host-a:1');
    const second = workerReconciler('host-b:2');
    const workers = [first, second];
    const actions = (action: string) => workers.reduce((n, w) => n + w.metrics.reconcileActions.get({ action }), 0);
    const queue = h.queues.forModel(DEMO_MODEL);
    const user = h.discord.user('kai');
    const lost = (await h.newJob({ user, params: TINY, enqueue: false })).job;
    const cancelled = (await h.newJob({ user, params: TINY })).job;
    await cancelJob(h.pg.db, cancelled.id, user.id);

    await Promise.all(workers.map((w) => w.reconciler.tick()));
    expect([actions('requeued'), actions('removed')]).toEqual([1, 1]);
    expect(await queue.getJobState(lost.id)).toBe('prioritized');
    expect(await queue.getJob(cancelled.id)).toBeUndefined();

    const [leader, follower] = first.metrics.reconcileActions.get({ action: 'requeued' }) === 1 ? [first, second] : [second, first];
    const lostLater = (await h.newJob({ user, params: TINY, enqueue: false })).job;
    await follower.reconciler.tick();
    expect(await queue.getJob(lostLater.id)).toBeUndefined();
    await leader.reconciler.stop();
    await follower.reconciler.tick();
    expect(await queue.getJobState(lostLater.id)).toBe('prioritized');
    expect(follower.metrics.reconcileActions.get({ action: 'requeued' })).toBe(1);
    await follower.reconciler.stop();
    await Promise.all(workers.map((w) => w.queues.close()));
  });

  it('puts a running job whose worker is gone back on the queue after the stall timeout, its attempts kept; out of attempts it fails, refunded and told', async () => {
    const { reconciler, metrics, queues } = workerReconciler('host-c:3', { stallTimeoutMs: 500, maxAttempts: 3 });
    const queue = h.queues.forModel(DEMO_MODEL);
    const user = h.discord.user('lu');
    // Claimed by workers that died with their queue entries (no heartbeat, nothing on BullMQ).
    const stalled = (await h.newJob({ user, params: TINY, enqueue: false })).job;
    await claimJob(h.pg.db, stalled.id, 'gone-host:1');
    const spent = (await h.newJob({ user, params: TINY, enqueue: false })).job;
    for (let i = 0; i < 3; i++) await claimJob(h.pg.db, spent.id, 'gone-host:1');

    await reconciler.tick();
    expect((await getJob(h.pg.db, stalled.id))!.status).toBe('running'); // not gone long enough yet
    await sleep(600);
    await reconciler.tick();
    expect(await getJob(h.pg.db, stalled.id)).toMatchObject({ status: 'queued', attempts: 1, workerId: null });
    expect(await queue.getJobState(stalled.id)).toBe('prioritized');
    const failed = (await getJob(h.pg.db, spent.id))!;
    expect([failed.status, failed.attempts, failed.deliveredAt !== null]).toEqual(['failed', 3, true]);
    expect(h.discord.messages.get(failed.messageId!)!.content).toContain(
      `failed: ${escapeMarkdown('its worker stopped responding 3 times')}`,
    );
    expect(h.discord.messages.get(failed.messageId!)!.content).toContain('Your quota was refunded.');
    expect(await h.ledgerKinds(spent.id)).toEqual(['charge', 'refund']);
    expect([metrics.reconcileActions.get({ action: 'stall_requeued' }), metrics.reconcileActions.get({ action: 'stall_failed' })]).toEqual([
      1, 1,
    ]);
    await reconciler.stop();
    await queues.close();
  });
});
