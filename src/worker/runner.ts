// The worker process's moving parts around the processor: one BullMQ Worker per model,
// the heartbeat, the cancel subscription, queue-depth polling for metrics and health, the
// reconciler (one leader among the workers), and a graceful shutdown that finishes the
// current job or hands it back.
import { Worker } from 'bullmq';
import type { ModelInfo } from '../contract/index.js';
import { GenerationQueues, Heartbeat, queueNameForModel, subscribeCancels, type GenerationJobData } from '../queue/index.js';
import { RunningJobs } from './cancels.js';
import type { HealthReport } from './health.js';
import { RetentionRunner } from './retention.js';
import { GenerationProcessor, type JobOutcome, type ProcessorDeps } from './processor.js';
import { Reconciler, type ReconcilerOptions } from './reconciler.js';

export interface GenerationWorkerOptions extends Omit<ProcessorDeps, 'running' | 'onJobStart' | 'onPipelineDeath'> {
  /** What the heartbeat advertises, one entry per generator (each only while its pipeline is alive). */
  models: ModelInfo[];
  /**
   * Called once, when the first pipeline thread dies: by then the worker stopped advertising
   * that model (its heartbeat key is gone when it was the only one) and taking its jobs; the
   * job it ran goes back to the queue unspent (close() waits for that). main.ts closes the
   * worker and exits 1 so that the supervisor (compose's `restart: unless-stopped`) restarts it.
   * @defaultValue none: the worker stays up without that model, /healthz at 503
   */
  onPipelineDeath?: (model: string) => void;
  /** Jobs at once per model queue (WORKER_CONCURRENCY). @defaultValue 1 */
  concurrency?: number;
  /** BullMQ job lock; a dead worker's job is taken over after about this long. @defaultValue 30000 */
  lockDurationMs?: number;
  /** How often BullMQ looks for stalled jobs. @defaultValue 30000 */
  stalledIntervalMs?: number;
  /** How often the queue depth is read (also proves Redis answers). @defaultValue 5000 */
  pollIntervalMs?: number;
  /** RETENTION_DAYS for the daily retention run (one worker does it). @defaultValue 30 */
  retentionDays?: number;
  /** JOB_ATTEMPTS: attempts of a job the reconciler enqueues again, and of a stalled job before it fails. @defaultValue 3 */
  jobAttempts?: number;
  /** RECONCILE_INTERVAL_MS, STALL_TIMEOUT_MS, NO_WORKER_TIMEOUT_MS, MAX_WAIT_MS. @defaultValue the Reconciler's */
  reconcile?: Pick<ReconcilerOptions, 'intervalMs' | 'stallTimeoutMs' | 'noWorkerTimeoutMs' | 'maxWaitMs'>;
}

export class GenerationWorker {
  private readonly running = new RunningJobs();
  /** BullMQ workers by model. */
  private readonly workers = new Map<string, Worker<GenerationJobData, JobOutcome>>();
  private readonly queues: GenerationQueues;
  private readonly heartbeat: Heartbeat;
  private readonly retention: RetentionRunner;
  private reconciler: Reconciler | null = null;
  private readonly pollIntervalMs: number;
  private unsubscribe: (() => Promise<void>) | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private lastRedisOkAt: number | null = null;
  private closing: Promise<void> | null = null;
  /** Models whose pipeline thread died (seen by a job, or by the thread's end). */
  private readonly deadModels = new Set<string>();

  private constructor(private readonly options: GenerationWorkerOptions) {
    const { redis, prefix, workerId, logger, clock } = options;
    this.pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.queues = new GenerationQueues({
      connection: redis,
      prefix,
      attempts: options.jobAttempts ?? 3,
      onError: (err, model) => logger.warn({ err, model }, 'queue connection error'),
    });
    this.heartbeat = new Heartbeat({
      redis,
      prefix,
      workerId,
      // Only what this worker can run now: a model whose pipeline died is no longer offered.
      models: () => options.models.filter((m) => !this.deadModels.has(m.name)),
      clock,
      onError: (err) => logger.warn({ err }, 'heartbeat failed'),
    });
    this.retention = new RetentionRunner({
      db: options.db,
      workerId,
      retentionDays: options.retentionDays ?? 30,
      logger,
      metrics: options.metrics,
      clock,
    });
  }

  static async start(options: GenerationWorkerOptions): Promise<GenerationWorker> {
    const worker = new GenerationWorker(options);
    await worker.begin();
    return worker;
  }

  private async begin(): Promise<void> {
    const { redis, prefix, logger, generators } = this.options;
    this.unsubscribe = await subscribeCancels(
      redis,
      prefix,
      (jobId) => {
        if (this.running.cancel(jobId)) logger.info({ jobId }, 'cancel received: stopping at the next step');
      },
      (err) => logger.warn({ err }, 'cancel subscription error'),
    );
    const processor = new GenerationProcessor({
      ...this.options,
      running: this.running,
      onJobStart: () => this.heartbeat.noteJob(),
      onPipelineDeath: (model) => this.pipelineDied(model),
    });
    for (const model of generators.keys()) {
      const worker = new Worker<GenerationJobData, JobOutcome>(queueNameForModel(model), (job, token) => processor.process(job, token), {
        connection: redis,
        prefix,
        concurrency: this.options.concurrency ?? 1,
        lockDuration: this.options.lockDurationMs ?? 30_000,
        stalledInterval: this.options.stalledIntervalMs ?? 30_000,
        // A job may be taken over after a crash twice before BullMQ gives up on it.
        maxStalledCount: 2,
        name: this.options.workerId,
      });
      worker.on('error', (err) => logger.error({ err, model }, 'BullMQ worker error'));
      worker.on('failed', (job, err) => {
        logger.warn({ jobId: job?.id, err }, 'job attempt failed');
        // Failures our processor threw are settled already (failJob is idempotent); this
        // catches the ones BullMQ decides alone, like a job that stalled too often.
        const final = job !== undefined && (err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1));
        if (final)
          processor
            .failAbandoned(job.data.jobId, err.message)
            .catch((e: unknown) => logger.error({ err: e, jobId: job.id }, 'could not settle a failed job'));
      });
      await worker.waitUntilReady();
      this.workers.set(model, worker);
    }
    await this.heartbeat.start();
    const { db, workerId, metrics, clock } = this.options;
    this.reconciler = new Reconciler({
      db,
      redis,
      prefix,
      workerId,
      queues: this.queues,
      settler: processor,
      models: [...generators.keys()],
      metrics,
      logger,
      clock,
      ...this.options.reconcile,
      maxAttempts: this.options.jobAttempts ?? 3,
    });
    this.reconciler.start();
    // A thread that ends while no job runs is noticed at once too.
    for (const [model, generator] of generators) void generator.ended.then(() => this.pipelineDied(model));
    await this.poll();
    this.pollTimer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.retention.start();
    this.pollTimer.unref();
    logger.info({ models: [...generators.keys()], workerId: this.options.workerId }, 'worker consuming');
  }

  private async poll(): Promise<void> {
    this.options.metrics.residentMemory.set(process.memoryUsage.rss());
    try {
      await this.sampleQueueDepth();
    } catch (err) {
      this.options.logger.warn({ err }, 'queue depth poll failed');
    }
  }

  /**
   * A model's pipeline thread is dead (a job saw it, or the thread ended): every job would fail here.
   * Stop taking them and stop advertising the model at once (the heartbeat is rewritten
   * without it, or deleted), then tell the owner, once.
   */
  private pipelineDied(model: string): void {
    if (this.deadModels.has(model) || this.closing !== null) return;
    this.deadModels.add(model);
    const { logger } = this.options;
    logger.error({ model }, 'pipeline thread died: no longer advertising this model or taking its jobs');
    void this.workers.get(model)?.pause(true);
    this.heartbeat.beat().catch((err: unknown) => logger.warn({ err }, 'heartbeat failed'));
    if (this.deadModels.size === 1) this.options.onPipelineDeath?.(model);
  }

  /** Sets imagine_queue_depth from Redis now: the poll does it, and so does each /metrics scrape, so that it is never stale. */
  async sampleQueueDepth(): Promise<void> {
    for (const model of this.options.generators.keys()) {
      const { wait = 0, prioritized = 0, delayed = 0 } = await this.queues.forModel(model).getJobCounts('wait', 'prioritized', 'delayed');
      this.options.metrics.queueDepth.set(wait + prioritized + delayed, { model });
    }
    this.lastRedisOkAt = this.options.clock();
  }

  /** Consuming means: every BullMQ worker runs unpaused, Redis answered recently, the heartbeat is fresh, every pipeline is alive. */
  health(): HealthReport {
    const now = this.options.clock();
    const recent = (at: number | null, withinMs: number) => at !== null && now - at <= withinMs;
    const ago = (at: number | null) => (at === null ? 'never' : `${Math.round((now - at) / 1000)} s ago`);
    const deadPipelines = [...this.options.generators].filter(([, g]) => !g.healthy).map(([name]) => name);
    const checks: HealthReport['checks'] = {
      consuming: {
        ok: this.closing === null && this.workers.size > 0 && [...this.workers.values()].every((w) => w.isRunning() && !w.isPaused()),
        detail: this.closing !== null ? 'shutting down' : `${this.workers.size} queue(s), ${this.running.size} job(s) running`,
      },
      redis: { ok: recent(this.lastRedisOkAt, 3 * this.pollIntervalMs), detail: `last answer ${ago(this.lastRedisOkAt)}` },
      heartbeat: { ok: recent(this.heartbeat.lastBeatAt, 15_000), detail: `last beat ${ago(this.heartbeat.lastBeatAt)}` },
      pipelines: { ok: deadPipelines.length === 0, detail: deadPipelines.length === 0 ? 'all alive' : `dead: ${deadPipelines.join(', ')}` },
    };
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  }

  /**
   * Stops taking jobs and waits up to `graceMs` for the running ones; past that they are
   * aborted and handed back to the queue for another worker. Safe to call twice.
   */
  close(graceMs: number): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  /**
   * Hands the running jobs back now instead of at the end of the grace period, and resolves
   * once closed: for an exit that cannot wait (ONNX Runtime aborts the process when a
   * pipeline thread is torn down inside session.run, so the generations must stop first).
   */
  closeNow(): Promise<void> {
    this.running.abortAll('shutdown');
    return this.close(0);
  }

  private async shutdown(graceMs: number): Promise<void> {
    const { logger } = this.options;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    // First stop taking jobs, so that a job handed back below is not taken again by this worker.
    const closed = Promise.all([...this.workers.values()].map((w) => w.close()));
    await this.heartbeat.stop().catch((err: unknown) => logger.warn({ err }, 'could not remove the heartbeat key'));
    await this.retention.stop();
    // A reconcile run in progress finishes meanwhile; the leader lease is released after it.
    const reconcilerStopped = this.reconciler?.stop();
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      graceTimer = setTimeout(() => resolve('timeout'), graceMs);
    });
    if ((await Promise.race([closed.then(() => 'closed' as const), graceOver])) === 'timeout') {
      logger.warn({ running: this.running.size }, 'grace period over: handing running jobs back');
      this.running.abortAll('shutdown');
      await closed;
    }
    clearTimeout(graceTimer);
    await reconcilerStopped;
    await this.unsubscribe?.();
    await this.queues.close();
  }
}
