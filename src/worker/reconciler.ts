// The reconciler compares Postgres (the truth about every job) with the queues and the
// worker heartbeats in Redis, and repairs what neither side repairs alone:
//   - a queued row with no BullMQ job (Redis lost its data; a pickup failed for good while
//     Postgres was down) is enqueued again, same job id, once its "queued" message is posted;
//     a waiting BullMQ job whose row is final or missing is removed;
//   - a running row that no live worker runs (its heartbeat is gone, or its BullMQ job is not
//     active) for STALL_TIMEOUT_MS goes back to the queue with its attempt count, or, once
//     that count reached JOB_ATTEMPTS, fails and is refunded, and the message says so;
//   - a succeeded row whose result never reached Discord is delivered now;
//   - a queued job whose model no live worker serves is told so after NO_WORKER_TIMEOUT_MS
//     (once), and cancelled and refunded after MAX_WAIT_MS, both counted from when the job
//     or the model's absence began, whichever is later.
// Every worker runs one; a Redis lease makes one of them the leader, and only the leader
// reconciles. When the leader dies its lease runs out and another worker takes over. The
// times the rules count from live in Redis too, so a new leader carries on where the old
// one stopped. Every action is one log line and one count in imagine_reconcile_actions_total.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { countActiveJobs, jobStatuses, listJobsWithStatus, listUndelivered, requeueJob, type Db, type Job } from '../db/index.js';
import { renderWaitingForWorker, type MessagePayload } from '../discord/messages.js';
import type { Logger } from '../log.js';
import { enqueueGeneration, Lease, liveWorkers, type GenerationJobData, type GenerationQueues } from '../queue/index.js';
import type { WorkerMetrics } from './metrics.js';
import type { DeliveryOutcome } from './processor.js';

/** What the reconciler needs from the processor: the ways a job ends, with its message. */
export interface JobSettler {
  deliverUndelivered(job: Job): Promise<DeliveryOutcome>;
  failAndTell(jobId: string, reason: string): Promise<boolean>;
  cancelAndTell(jobId: string, reason: string): Promise<boolean>;
  notify(job: Job, payload: MessagePayload): Promise<void>;
}

export type ReconcileAction =
  /** A queued row had no BullMQ job (or a failed or completed one): enqueued again. */
  | 'requeued'
  /** A waiting BullMQ job whose row is final or missing: removed. */
  | 'removed'
  /** A running row nobody runs: back to queued, attempts kept. */
  | 'stall_requeued'
  /** A running row nobody runs, out of attempts: failed, refunded, told. */
  | 'stall_failed'
  /** A succeeded result that never reached Discord: delivered. */
  | 'redelivered'
  /** Its redelivery failed; tried again at later runs, up to MAX_REDELIVERIES. */
  | 'redelivery_failed'
  /** No worker serves the job's model: the message says the job waits. */
  | 'told_waiting'
  /** No worker came within MAX_WAIT_MS: cancelled, refunded, told. */
  | 'no_worker_cancelled';

export interface ReconcilerOptions {
  db: Db;
  redis: Redis;
  prefix: string;
  workerId: string;
  /** The worker's queues (with the deployment's JOB_ATTEMPTS), to look up and re-add jobs. */
  queues: GenerationQueues;
  settler: JobSettler;
  /** Models this worker serves: their queues are checked even while no row mentions them. */
  models: readonly string[];
  metrics: WorkerMetrics;
  logger: Logger;
  /** @defaultValue Date.now */
  clock?: () => number;
  /** RECONCILE_INTERVAL_MS. @defaultValue 30000 */
  intervalMs?: number;
  /** STALL_TIMEOUT_MS. @defaultValue 60000 */
  stallTimeoutMs?: number;
  /** NO_WORKER_TIMEOUT_MS. @defaultValue 600000 */
  noWorkerTimeoutMs?: number;
  /** MAX_WAIT_MS. @defaultValue 3600000 */
  maxWaitMs?: number;
  /** JOB_ATTEMPTS: a stalled job with this many attempts fails. @defaultValue 3 */
  maxAttempts?: number;
}

/** Redeliveries of one result before the reconciler leaves it to /show. */
export const MAX_REDELIVERIES = 5;
/** A result younger than this is left to its own worker, which is likely delivering it. */
const REDELIVERY_MIN_AGE_MS = 10_000;
/** Results older than this are not redelivered (a day: the interaction is long gone). */
const REDELIVERY_MAX_AGE_MS = 24 * 3600_000;
/**
 * A queued row without a message id may still be between its insert and its "queued" reply
 * (the bot enqueues after replying, so a worker never edits a message that is not there yet):
 * it is enqueued again only after this long.
 */
const UNPOSTED_GRACE_MS = 60_000;
/** BullMQ states in which a job will be picked up without help. */
const ON_THE_QUEUE = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

function minutes(ms: number): string {
  const m = ms / 60_000;
  return m >= 1 ? `${Math.round(m)} min` : `${Math.round(ms / 1000)} s`;
}

export class Reconciler {
  private readonly opts: Required<Omit<ReconcilerOptions, 'clock'>> & { clock: () => number };
  private readonly lease: Lease;
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<void> | null = null;

  constructor(options: ReconcilerOptions) {
    this.opts = {
      ...options,
      clock: options.clock ?? Date.now,
      intervalMs: options.intervalMs ?? 30_000,
      stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
      noWorkerTimeoutMs: options.noWorkerTimeoutMs ?? 600_000,
      maxWaitMs: options.maxWaitMs ?? 3_600_000,
      maxAttempts: options.maxAttempts ?? 3,
    };
    const { intervalMs, noWorkerTimeoutMs, maxWaitMs } = this.opts;
    if (!Number.isInteger(intervalMs) || intervalMs < 100)
      throw new RangeError(`intervalMs must be a whole number >= 100, got ${intervalMs}`);
    if (maxWaitMs < noWorkerTimeoutMs)
      throw new RangeError(`maxWaitMs (${maxWaitMs}) must not be below noWorkerTimeoutMs (${noWorkerTimeoutMs})`);
    // Renewed every run: it outlives one missed run, and frees itself soon after the leader died.
    this.lease = new Lease({ redis: options.redis, key: this.key('leader'), ttlMs: 3 * intervalMs, owner: options.workerId });
  }

  /** Runs now, then every intervalMs, as long as this worker holds (or wins) the leader lease. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops the timer, waits for a run in progress, and hands the leadership on. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.current;
    await this.lease.release().catch(() => undefined);
  }

  /** One run if this worker is (or becomes) the leader; a run already going is not doubled. */
  tick(): Promise<void> {
    this.current ??= this.leadAndRun().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private async leadAndRun(): Promise<void> {
    try {
      if (!(await this.lease.acquire())) return;
      const stopRenewing = this.lease.keepAlive();
      try {
        await this.reconcile();
      } finally {
        stopRenewing();
      }
    } catch (err) {
      // Postgres or Redis away: the next run tries again.
      this.opts.logger.warn({ err }, 'reconcile run failed');
    }
  }

  /** One full pass (the leader's). */
  private async reconcile(): Promise<void> {
    const { db, redis, prefix } = this.opts;
    const workers = await liveWorkers(redis, prefix);
    const liveIds = new Set(workers.map((w) => w.id));
    const servedModels = new Set(workers.flatMap((w) => w.models.map((m) => m.name)));
    const running = await listJobsWithStatus(db, 'running');
    await this.each(running, (job) => this.checkRunning(job, liveIds));
    const queued = await listJobsWithStatus(db, 'queued');
    const absentSince = await this.absentModels(queued, servedModels);
    await this.each(queued, (job) => this.checkQueued(job, absentSince.get(job.model) ?? null));
    const models = new Set([...this.opts.models, ...servedModels, ...running.map((j) => j.model), ...queued.map((j) => j.model)]);
    for (const model of models) {
      try {
        await this.removeOrphans(model);
      } catch (err) {
        this.opts.logger.warn({ err, model }, 'reconcile: queue not checked this run');
      }
    }
    await this.each(await listUndelivered(db, { minAgeMs: REDELIVERY_MIN_AGE_MS, maxAgeMs: REDELIVERY_MAX_AGE_MS }), (job) =>
      this.redeliver(job),
    );
  }

  /** One job at a time; a job that cannot be repaired now does not stop the others. */
  private async each(jobs: Job[], check: (job: Job) => Promise<void>): Promise<void> {
    for (const job of jobs) {
      try {
        await check(job);
      } catch (err) {
        this.opts.logger.warn({ err, jobId: job.id }, 'reconcile: job not repaired this run');
      }
    }
  }

  private async checkRunning(job: Job, liveIds: Set<string>): Promise<void> {
    const state = await this.queueState(job);
    const marker = this.key(`unowned:${job.id}`);
    if (job.workerId !== null && liveIds.has(job.workerId) && state === 'active') {
      await this.opts.redis.del(marker);
      return;
    }
    const since = await this.since(marker, 10 * this.opts.stallTimeoutMs);
    if (this.now() - since < this.opts.stallTimeoutMs) return;
    const details = { workerId: job.workerId, attempts: job.attempts, queueState: state };
    if (job.attempts >= this.opts.maxAttempts) {
      const reason = `its worker stopped responding ${job.attempts} times; it may be too large for the workers`;
      if (await this.opts.settler.failAndTell(job.id, reason)) this.act('stall_failed', job, details);
      await this.removeFromQueue(job);
    } else if (await requeueJob(this.opts.db, job.id, job.workerId)) {
      await this.putOnQueue(job, state);
      this.act('stall_requeued', job, details);
    }
    await this.opts.redis.del(marker);
  }

  /**
   * When each model of a queued job stopped having a live worker, as the reconciler first
   * noticed it (kept in Redis); served models are forgotten.
   */
  private async absentModels(queued: Job[], servedModels: Set<string>): Promise<Map<string, number>> {
    const absent = new Map<string, number>();
    for (const model of new Set(queued.map((j) => j.model))) {
      const marker = this.key(`no-worker:${model}`);
      if (servedModels.has(model)) await this.opts.redis.del(marker);
      else absent.set(model, await this.since(marker, 2 * this.opts.maxWaitMs));
    }
    return absent;
  }

  private async checkQueued(job: Job, modelAbsentSince: number | null): Promise<void> {
    const state = await this.queueState(job);
    const posted = job.messageId !== null || this.now() - job.createdAt.getTime() >= UNPOSTED_GRACE_MS;
    if (posted && !ON_THE_QUEUE.has(state) && state !== 'active') {
      await this.putOnQueue(job, state);
      this.act('requeued', job, { queueState: state });
    }
    if (modelAbsentSince === null) return;
    const unservedMs = this.now() - Math.max(modelAbsentSince, job.createdAt.getTime());
    if (unservedMs >= this.opts.maxWaitMs) {
      const reason = `no worker for model ${job.model} came online within ${minutes(this.opts.maxWaitMs)}`;
      if (await this.opts.settler.cancelAndTell(job.id, reason)) this.act('no_worker_cancelled', job, { waitedMs: unservedMs });
      await this.removeFromQueue(job);
    } else if (unservedMs >= this.opts.noWorkerTimeoutMs) {
      // Once per job: the marker outlives the wait.
      const first = await this.opts.redis.set(this.key(`told-waiting:${job.id}`), '1', 'PX', 2 * this.opts.maxWaitMs, 'NX');
      if (first === null) return;
      await this.opts.settler.notify(job, renderWaitingForWorker(job));
      this.act('told_waiting', job, { waitedMs: unservedMs });
    }
  }

  /** Waiting BullMQ jobs whose row is final or gone: nothing would run them, yet they count in the queue depth. */
  private async removeOrphans(model: string): Promise<void> {
    const queue = this.opts.queues.forModel(model);
    const waiting = await queue.getJobs(['wait', 'prioritized', 'delayed'], 0, 499);
    const statuses = await jobStatuses(
      this.opts.db,
      waiting.map((j) => j.data.jobId),
    );
    for (const entry of waiting) {
      const status = statuses.get(entry.data.jobId);
      if (status === 'queued' || status === 'running') continue;
      if ((await queue.remove(entry.id!)) === 1) this.act('removed', { id: entry.data.jobId, model }, { rowStatus: status ?? 'missing' });
    }
  }

  private async redeliver(job: Job): Promise<void> {
    const triesKey = this.key(`redeliveries:${job.id}`);
    const tries = await this.opts.redis.incr(triesKey);
    if (tries === 1) await this.opts.redis.pexpire(triesKey, REDELIVERY_MAX_AGE_MS);
    if (tries > MAX_REDELIVERIES) return;
    const outcome = await this.opts.settler.deliverUndelivered(job);
    if (outcome === 'delivered') this.act('redelivered', job, { tries });
    else if (outcome === 'failed') this.act('redelivery_failed', job, { tries });
    // Someone else is delivering it right now: that was no try of ours.
    else await this.opts.redis.decr(triesKey);
  }

  /** The BullMQ state of a job's queue entry ('missing' when there is none). */
  private async queueState(job: Job): Promise<string> {
    const entry = await this.queueOf(job).getJob(job.id);
    return entry === undefined ? 'missing' : await entry.getState();
  }

  /** Enqueues the job again, first removing a finished entry that would make the add a no-op. */
  private async putOnQueue(job: Job, state: string): Promise<void> {
    if (ON_THE_QUEUE.has(state)) return;
    // An active entry can be removed only once its lock expired (its worker is dead).
    if (state !== 'missing') await this.queueOf(job).remove(job.id);
    const userActiveJobs = await countActiveJobs(this.opts.db, job.userId);
    await enqueueGeneration(this.opts.queues, { jobId: job.id, model: job.model, userActiveJobs });
  }

  private async removeFromQueue(job: Job): Promise<void> {
    await this.queueOf(job).remove(job.id);
  }

  private queueOf(job: Job): Queue<GenerationJobData> {
    return this.opts.queues.forModel(job.model);
  }

  /** The time stored under `key`, stored now if there was none. */
  private async since(key: string, ttlMs: number): Promise<number> {
    await this.opts.redis.set(key, String(this.now()), 'PX', ttlMs, 'NX');
    const stored = Number(await this.opts.redis.get(key));
    return Number.isFinite(stored) && stored > 0 ? stored : this.now();
  }

  private act(action: ReconcileAction, job: Pick<Job, 'id' | 'model'>, details: Record<string, unknown>): void {
    this.opts.metrics.reconcileActions.inc({ action });
    this.opts.logger.info({ jobId: job.id, model: job.model, action, ...details }, `reconcile: ${action}`);
  }

  private now(): number {
    return this.opts.clock();
  }

  private key(name: string): string {
    return `${this.opts.prefix}:reconcile:${name}`;
  }
}
