// One generation job, from BullMQ pickup to the delivered result. BullMQ delivers at
// least once, so every step is keyed by the job id and safe to repeat: Postgres decides
// who completes (completeJob's didComplete), a short Redis lease decides who delivers, and
// delivered_at (set once) says whether anyone did; the reconciler delivers what was not.
// Every edit is fenced (db runFence): a run changes the job or its message only while the
// row says running under the attempt it claimed and its worker. Before each preview one
// read checks it (a cancel whose pub/sub message was lost, a run another took over after a
// lost BullMQ lock: both stop there); completeJob and failJob check it in their UPDATE.
import { DelayedError, UnrecoverableError, WaitingError, type Job as QueueJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { editNote, formatParameters, generationRequest, resultFile, type GenerationRequest } from '../contract/index.js';
import {
  cancelJob,
  claimJob,
  completeJob,
  failJob,
  getJob,
  getReplay,
  jobParams,
  jobRefund,
  markDelivered,
  runFence,
  runState,
  setDeliveryError,
  shownImages,
  storeReplay,
  type Db,
  type Job,
} from '../db/index.js';
import { renderCancelled, renderFailed, renderProgress, renderResult, renderSuperseded, type MessagePayload } from '../discord/messages.js';
import { isRetryable, isUserVisible } from '../errors.js';
import { encodePreview, encodeReplay } from '../images/encode.js';
import { encodePng, type RgbImage } from '../images/png.js';
import type { Logger } from '../log.js';
import { GenerationAbortedError, type GenerateCallOptions, type GenerationOutput } from '../pipeline/index.js';
import { Lease, modelForQueueName, type GenerationJobData } from '../queue/index.js';
import type { AbortReason, RunningJobs } from './cancels.js';
import type { DiscordMessages } from './discord.js';
import { DeliveryFailedError, JobMessage } from './job-message.js';
import type { WorkerMetrics } from './metrics.js';
import { ProgressReporter } from './progress.js';
import { ReplayFrames } from './replay.js';
import { ImageUnavailableError, StoredImages } from './sources.js';

/** What the worker needs from a loaded model (PipelineHost provides it). */
export interface ImageGenerator {
  readonly model: { name: string; hash: string };
  /** False once the pipeline thread died. */
  readonly healthy: boolean;
  /** Resolves when the pipeline thread has ended (a crash, or a close). */
  readonly ended: Promise<void>;
  generate(request: GenerationRequest, options?: GenerateCallOptions): Promise<GenerationOutput>;
}

export interface ProcessorDeps {
  db: Db;
  /** For the delivery key; the worker's normal (non-blocking) connection. */
  redis: Redis;
  prefix: string;
  workerId: string;
  /** Loaded models by name; the worker consumes exactly their queues. */
  generators: ReadonlyMap<string, ImageGenerator>;
  discord: DiscordMessages;
  running: RunningJobs;
  metrics: WorkerMetrics;
  logger: Logger;
  clock: () => number;
  previewIntervalMs: number;
  maxUploadBytes: number;
  /** Stop using an interaction token this long before it expires. */
  tokenMarginMs: number;
  /** Called when a job is picked up (heartbeat's lastJobAt). */
  onJobStart: () => void;
  /**
   * Longest time a final message may take, its requests, rate-limit waits and retry pauses,
   * all tries together: it must fit in the shutdown grace (SHUTDOWN_GRACE_MS). @defaultValue 20000
   */
  deliveryBudgetMs?: number;
  /** Called when a model's pipeline thread is found dead, after the job at hand went back to the queue. */
  onPipelineDeath: (model: string) => void;
}

/** What one deliverFinal call did. */
export type DeliveryOutcome = 'delivered' | 'already_delivered' | 'busy' | 'failed';

export type JobOutcome = 'succeeded' | 'failed' | 'cancelled' | 'skipped';

/** One run of a job, as the failure path needs it. */
interface RunContext {
  job: Job;
  queueJob: QueueJob<GenerationJobData>;
  token: string | undefined;
  signal: AbortSignal;
  message: JobMessage;
  logger: Logger;
}

/**
 * The delivery lease: renewed while a worker delivers, so a crashed worker's claim frees
 * itself this soon and the reconciler delivers the result.
 */
export const DELIVERY_LEASE_MS = 30_000;
/** Tries of a final message, with a pause between them (a short Discord outage). */
const DELIVERY_TRIES = 3;
const DELIVERY_RETRY_PAUSE_MS = [1000, 3000];
/** A job picked up while Postgres does not answer waits this long on the queue, its attempt unspent. */
const PICKUP_RETRY_DELAY_MS = 5000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface ProgressSnapshot {
  step: number;
  totalSteps: number;
  preview: RgbImage | null;
  etaUnixSeconds: number | null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The user-facing reason of a failure: a user-visible one (a bad request) as is, anything else briefly. */
function failureReason(err: unknown): string {
  if (isUserVisible(err)) return err.message;
  return `the worker hit an error (${errorText(err).slice(0, 200)})`;
}

export class GenerationProcessor {
  private readonly images: StoredImages;
  private readonly deliveryBudgetMs: number;

  constructor(private readonly deps: ProcessorDeps) {
    this.images = new StoredImages({ db: deps.db, generators: deps.generators, logger: deps.logger });
    this.deliveryBudgetMs = deps.deliveryBudgetMs ?? 20_000;
  }

  /** BullMQ's processor function. */
  async process(queueJob: QueueJob<GenerationJobData>, token?: string): Promise<JobOutcome> {
    const { jobId } = queueJob.data;
    const { running, metrics } = this.deps;
    const signal = running.start(jobId);
    const startedAt = this.deps.clock();
    const logger = this.deps.logger.child({ jobId, attempt: queueJob.attemptsMade + 1 });
    try {
      const model = modelForQueueName(queueJob.queueName);
      if (model !== null && this.deps.generators.get(model)?.healthy === false) {
        // A job taken just before the worker paused for its dead pipeline: give it back
        // unclaimed, without spending an attempt, for a healthy worker.
        return await this.handBackForDeadPipeline(model, queueJob, token, logger);
      }
      const job = await this.claim(queueJob, token, logger);
      if (job === null) {
        await this.deliverIfUndelivered(jobId, logger);
        metrics.jobs.inc({ outcome: 'skipped' });
        return 'skipped';
      }
      this.deps.onJobStart();
      logger.info({ model: job.model, steps: job.steps, count: job.count }, 'job started');
      metrics.queueWaitSeconds.observe(Math.max(0, startedAt - queueJob.timestamp) / 1000);
      const outcome = await this.run(job, queueJob, token, signal, logger);
      metrics.jobs.inc({ outcome });
      metrics.jobSeconds.observe((this.deps.clock() - startedAt) / 1000);
      return outcome;
    } finally {
      running.finish(jobId);
    }
  }

  /**
   * claimJob, or, when Postgres does not answer, the job handed back to the queue for a few
   * seconds without spending an attempt: BullMQ's own retries would run out within seconds and
   * fail it for good, leaving its row queued (the reconciler heals such a leftover too).
   */
  private async claim(queueJob: QueueJob<GenerationJobData>, token: string | undefined, logger: Logger): Promise<Job | null> {
    try {
      return await claimJob(this.deps.db, queueJob.data.jobId, this.deps.workerId);
    } catch (err) {
      if (token === undefined) throw err;
      logger.warn({ err, retryInMs: PICKUP_RETRY_DELAY_MS }, 'could not claim the job (database unavailable?): back on the queue');
      await queueJob.moveToDelayed(this.deps.clock() + PICKUP_RETRY_DELAY_MS, token);
      throw new DelayedError();
    }
  }

  private async run(
    job: Job,
    queueJob: QueueJob<GenerationJobData>,
    token: string | undefined,
    signal: AbortSignal,
    logger: Logger,
  ): Promise<JobOutcome> {
    const { db, clock, metrics } = this.deps;
    const message = this.messageOf(job);
    const generator = this.deps.generators.get(job.model);
    if (generator === undefined) {
      // Queues are per model, so this is a deployment mistake, not the user's.
      return this.fail(job, message, new Error(`model ${job.model} is not loaded on this worker`), logger, true);
    }
    if (job.kind === 'select' || job.kind === 'restore') return this.runShowAgain(job, queueJob, token, signal, message, logger);

    let request: GenerationRequest;
    let output: GenerationOutput;
    const reporter = this.progressReporter(job, message, logger);
    const replayFrames = new ReplayFrames();
    try {
      request = await this.buildRequest(job);
      const generationStart = clock();
      // Not every step carries a preview; an edit without one would remove the image shown.
      let lastPreview: RgbImage | null = null;
      output = await generator.generate(request, {
        signal,
        onProgress: (p) => {
          if (p.preview !== undefined) {
            lastPreview = p.preview; // already laid out like the result grid by the pipeline
            replayFrames.add(lastPreview);
          }
          // The last step's preview would only delay the final edit that follows it.
          if (p.step >= p.totalSteps) return;
          const now = clock();
          const perStep = p.step > 0 ? (now - generationStart) / p.step : null;
          reporter.offer({
            step: p.step,
            totalSteps: p.totalSteps,
            preview: lastPreview,
            etaUnixSeconds: perStep === null ? null : (now + perStep * (p.totalSteps - p.step)) / 1000,
          });
        },
      });
    } catch (err) {
      await reporter.close();
      return this.settleFailure(err, { job, queueJob, token, signal, message, logger });
    }
    await reporter.close();
    metrics.stepSeconds.observe(output.timings.totalMs / 1000 / Math.max(1, output.timings.steps));

    // Store before showing: a result on Discord always has its images in Postgres, and is
    // made from exactly those bytes.
    const images = output.images.map((img) => ({
      index: img.index,
      seed: img.seed,
      width: img.width,
      height: img.height,
      png: encodePng(img, formatParameters(request, img.seed, generator.model)),
    }));
    const completion = await completeJob(db, job.id, images, {
      modelHash: generator.model.hash,
      timings: { generationMs: output.timings.totalMs, onnxMs: output.timings.onnxMs, steps: output.timings.steps },
      fence: runFence(job, this.deps.workerId),
    });
    if (!completion.didComplete) {
      logger.info({ status: completion.status }, 'job final or taken over by another run; result not delivered');
      return 'skipped';
    }
    const replay = await this.recordReplay(job, replayFrames.frames(), logger);
    const file = await resultFile(images, this.deps.maxUploadBytes, job.id);
    const note = await this.resultNote(job);
    const payload = renderResult(job, {
      file,
      seeds: output.images.map((i) => i.seed),
      elapsedMs: output.timings.totalMs,
      replay,
      ...(note === null ? {} : { note }),
    });
    await this.deliverFinal(job, message, payload, logger);
    return 'succeeded';
  }

  /**
   * A failed run: handed back on shutdown, the cancelled message on cancel, thrown for
   * BullMQ's retry while retryable attempts remain, else failed and refunded.
   */
  private async settleFailure(err: unknown, run: RunContext): Promise<JobOutcome> {
    const { job, queueJob, token, signal, message, logger } = run;
    // The pipeline thread died under this job: not the job's fault, and not one more attempt.
    if (this.deps.generators.get(job.model)?.healthy === false)
      return this.handBackForDeadPipeline(job.model, queueJob, token, logger, err);
    if (err instanceof GenerationAbortedError) {
      const reason = signal.reason as AbortReason;
      if (reason === 'shutdown') {
        // Hand the job back untouched: another worker (or this one restarted) runs it.
        logger.info('shutting down: job handed back to the queue');
        if (token !== undefined) await queueJob.moveToWait(token);
        throw new WaitingError();
      }
      if (reason === 'superseded') {
        logger.info('another run holds this job now: stopped without touching it');
        return 'skipped';
      }
      // Shown by the run the cancel stopped; a stale run of the same job leaves it to that one.
      if ((await runState(this.deps.db, job.id, runFence(job, this.deps.workerId))) !== 'cancelled') {
        logger.info('cancelled while another run held the job: left to that run');
        return 'skipped';
      }
      logger.info('cancelled while running');
      await this.deliverFinal(job, message, renderCancelled(job, await jobRefund(this.deps.db, job.id)), logger);
      return 'cancelled';
    }
    const retryable = isRetryable(err);
    if (retryable && queueJob.attemptsMade + 1 < (queueJob.opts.attempts ?? 1)) {
      this.deps.metrics.jobs.inc({ outcome: 'retried' });
      logger.warn({ err }, 'job failed; BullMQ will retry');
      throw err;
    }
    return this.fail(job, message, err, logger, !retryable);
  }

  /**
   * Gives the job back to the queue untouched (the row stays running under this run's fence,
   * which the next claim supersedes) and reports the dead pipeline: the worker stops
   * advertising the model and exits for its supervisor to restart it.
   */
  private async handBackForDeadPipeline(
    model: string,
    queueJob: QueueJob<GenerationJobData>,
    token: string | undefined,
    logger: Logger,
    err?: unknown,
  ): Promise<never> {
    logger.error({ model, err }, 'pipeline thread dead: job handed back to the queue');
    if (token !== undefined) await queueJob.moveToWait(token);
    this.deps.onPipelineDeath(model);
    throw new WaitingError();
  }

  /**
   * U1-U4 of an image whose bytes expired (`select`), or /show of a job whose images expired
   * (`restore`): the images are regenerated and stored again, then shown; no images of its own.
   */
  private async runShowAgain(
    job: Job,
    queueJob: QueueJob<GenerationJobData>,
    token: string | undefined,
    signal: AbortSignal,
    message: JobMessage,
    logger: Logger,
  ): Promise<JobOutcome> {
    let payload: MessagePayload;
    try {
      const target = job.parentJobId === null ? null : await getJob(this.deps.db, job.parentJobId);
      if (target === null) throw new ImageUnavailableError(`job ${job.parentJobId ?? '?'} no longer exists`);
      const indexes = job.kind === 'select' ? [job.parentIndex ?? 0] : Array.from({ length: target.count }, (_, i) => i);
      for (const index of indexes) {
        if (signal.aborted) throw new GenerationAbortedError();
        await this.images.png(target.id, index);
      }
      payload = await this.resultPayload(job);
    } catch (err) {
      return this.settleFailure(err, { job, queueJob, token, signal, message, logger });
    }
    const completion = await completeJob(this.deps.db, job.id, [], { fence: runFence(job, this.deps.workerId) });
    if (!completion.didComplete) {
      logger.info({ status: completion.status }, 'job final or taken over by another run; result not delivered');
      return 'skipped';
    }
    await this.deliverFinal(job, message, payload, logger);
    return 'succeeded';
  }

  /**
   * The result message of a finished job, from Postgres: its images (for a /show job, the
   * shown job's, with that job's buttons), expired bytes regenerated first.
   */
  private async resultPayload(job: Job): Promise<MessagePayload> {
    const shown = job.kind === 'restore' && job.parentJobId !== null ? await getJob(this.deps.db, job.parentJobId) : job;
    if (shown === null) throw new ImageUnavailableError(`job ${job.parentJobId ?? '?'} no longer exists`);
    const stored = await shownImages(this.deps.db, shown);
    const pngs = await Promise.all(stored.map(async (image) => ({ png: image.png ?? (await this.images.png(image.jobId, image.index)) })));
    const file = await resultFile(pngs, this.deps.maxUploadBytes, job.id);
    const replay = (await getReplay(this.deps.db, shown.id)) !== null;
    const note = await this.resultNote(shown);
    return renderResult(shown, { file, seeds: stored.map((i) => i.seed), replay, ...(note === null ? {} : { note }) });
  }

  /** What the result says about how an edit was made (a pan's canvas scaled down to fit), or null. */
  private async resultNote(job: Job): Promise<string | null> {
    const { init, edit } = jobParams(job);
    if (edit === null || init === null) return null;
    const source = await this.images.sizeOf(init);
    return source === null ? null : editNote(edit, source, job);
  }

  /** Stores the denoising replay; returns whether the job has one. A failure costs only the Replay button. */
  private async recordReplay(job: Job, frames: RgbImage[], logger: Logger): Promise<boolean> {
    // One preview is no animation (very short or very fast jobs).
    if (frames.length < 2) return false;
    try {
      const replay = await encodeReplay(frames);
      await storeReplay(this.deps.db, job.id, replay);
      logger.debug({ frames: replay.frames, bytes: replay.webp.length }, 'replay stored');
      return true;
    } catch (err) {
      logger.warn({ err }, 'replay not stored');
      return false;
    }
  }

  private progressReporter(job: Job, message: JobMessage, logger: Logger): ProgressReporter<ProgressSnapshot> {
    let encoded: { source: RgbImage; webp: Buffer } | null = null;
    const encode = async (image: RgbImage): Promise<Buffer> => {
      if (encoded?.source !== image) encoded = { source: image, webp: await encodePreview(image) };
      return encoded.webp;
    };
    const fence = runFence(job, this.deps.workerId);
    return new ProgressReporter<ProgressSnapshot>({
      intervalMs: this.deps.previewIntervalMs,
      clock: this.deps.clock,
      onError: (err) => logger.warn({ err }, 'progress edit failed'),
      send: async (snapshot) => {
        // The fence, read once per preview at most: a run that may no longer edit stops here,
        // at its next step, as a cancel stops it.
        const state = await runState(this.deps.db, job.id, fence);
        if (state !== 'current') {
          logger.info({ state }, "no longer this run's job: stopping before the next preview");
          this.deps.running.abort(job.id, state);
          return;
        }
        const preview = snapshot.preview === null ? null : { name: 'preview.webp', data: await encode(snapshot.preview) };
        await message.editProgress(
          renderProgress(job, { step: snapshot.step, totalSteps: snapshot.totalSteps, etaUnixSeconds: snapshot.etaUnixSeconds, preview }),
        );
        this.deps.metrics.previewEdits.inc();
      },
    });
  }

  /** The pipeline request of a job; img2img jobs start from their stored (or regenerated) source image. */
  private async buildRequest(job: Job): Promise<GenerationRequest> {
    const params = jobParams(job);
    const init = params.init === null ? null : await this.images.pngOf(params.init);
    return generationRequest(params, init);
  }

  private async fail(job: Job, message: JobMessage, err: unknown, logger: Logger, unrecoverable: boolean): Promise<never> {
    logger.error({ err }, 'job failed');
    const reason = failureReason(err);
    const { didFail } = await failJob(this.deps.db, job.id, reason, runFence(job, this.deps.workerId));
    if (didFail) {
      this.deps.metrics.jobs.inc({ outcome: 'failed' });
      await this.deliverFinal(job, message, renderFailed(job, reason, await jobRefund(this.deps.db, job.id)), logger);
    }
    // Rethrow so BullMQ records the failure; UnrecoverableError stops further attempts.
    throw unrecoverable ? new UnrecoverableError(reason) : err;
  }

  /**
   * Sends a final message once per job across all workers. The holder of the job's delivery
   * lease sends it (renewing the lease while it does), unless delivered_at says it reached
   * Discord already; a failed try is tried again after a pause, everything within the delivery
   * budget. The outcome (or the error) goes into the job row; a result that could not be
   * delivered is delivered later by the reconciler.
   */
  private async deliverFinal(job: Job, message: JobMessage, payload: MessagePayload, logger: Logger): Promise<DeliveryOutcome> {
    const { db, clock, metrics } = this.deps;
    const lease = new Lease({
      redis: this.deps.redis,
      key: `${this.deps.prefix}:delivery:${job.id}`,
      ttlMs: DELIVERY_LEASE_MS,
      owner: this.deps.workerId,
    });
    if (!(await lease.acquire())) {
      logger.info('another worker is delivering this job');
      return 'busy';
    }
    const stopRenewing = lease.keepAlive();
    try {
      // A delivery that finished while this one waited: the message shows the result already.
      if ((await getJob(db, job.id))?.deliveredAt != null) return 'already_delivered';
      const deadline = clock() + this.deliveryBudgetMs;
      for (let attempt = 1; ; attempt++) {
        try {
          const { route, messageId } = await message.deliver(payload, renderSuperseded(job), deadline);
          metrics.deliveries.inc({ route });
          const first = await markDelivered(db, job.id, route === 'channel' ? messageId : undefined);
          logger.info({ route, attempt }, first ? 'delivered' : 'delivered again over the same message');
          return 'delivered';
        } catch (err) {
          if (!(err instanceof DeliveryFailedError)) throw err;
          metrics.deliveries.inc({ route: 'failed' });
          const pause = DELIVERY_RETRY_PAUSE_MS[attempt - 1] ?? 0;
          if (attempt >= DELIVERY_TRIES || clock() + pause >= deadline) {
            logger.error({ err, attempt }, 'delivery failed; the reconciler tries again later');
            await setDeliveryError(db, job.id, err.message);
            return 'failed';
          }
          logger.warn({ err, attempt, retryInMs: pause }, 'delivery failed; trying again');
          await sleep(pause);
        }
      }
    } finally {
      stopRenewing();
      await lease.release().catch(() => undefined);
    }
  }

  /**
   * BullMQ failed a job for good without our processor failing it (it stalled too often:
   * its workers kept dying). Fail and refund the row, and tell the user, once.
   */
  async failAbandoned(jobId: string, cause: string): Promise<void> {
    await this.failAndTell(jobId, `the job stopped too many times (${cause}); it may be too large for the workers`);
  }

  /** Fails and refunds a queued or running job, and tells the user, once. False when it was final already. */
  async failAndTell(jobId: string, reason: string): Promise<boolean> {
    const logger = this.deps.logger.child({ jobId });
    const { didFail } = await failJob(this.deps.db, jobId, reason);
    if (!didFail) return false;
    logger.error({ reason }, 'job failed and refunded');
    this.deps.metrics.jobs.inc({ outcome: 'failed' });
    const job = await getJob(this.deps.db, jobId);
    if (job !== null)
      await this.deliverFinal(job, this.messageOf(job), renderFailed(job, reason, await jobRefund(this.deps.db, job.id)), logger);
    return true;
  }

  /** Cancels and refunds a queued or running job for `reason`, and tells the user, once. False when it was final already. */
  async cancelAndTell(jobId: string, reason: string): Promise<boolean> {
    const logger = this.deps.logger.child({ jobId });
    const { cancelled } = await cancelJob(this.deps.db, jobId, 'reconciler');
    if (!cancelled) return false;
    logger.warn({ reason }, 'job cancelled and refunded');
    this.deps.metrics.jobs.inc({ outcome: 'cancelled' });
    const job = await getJob(this.deps.db, jobId);
    if (job !== null)
      await this.deliverFinal(job, this.messageOf(job), renderCancelled(job, await jobRefund(this.deps.db, job.id), reason), logger);
    return true;
  }

  /** Edits a job's message with a note that is not final (one try, no lease). */
  async notify(job: Job, payload: MessagePayload): Promise<void> {
    await this.messageOf(job).editNotice(payload);
  }

  /**
   * The result of a succeeded job whose result never reached Discord (its worker died in
   * between, or Discord was down), delivered from Postgres now. 'already_delivered' for any
   * other job.
   */
  async deliverUndelivered(job: Job): Promise<DeliveryOutcome> {
    if (job.status !== 'succeeded' || job.deliveredAt !== null) return 'already_delivered';
    const logger = this.deps.logger.child({ jobId: job.id });
    return this.deliverFinal(job, this.messageOf(job), await this.resultPayload(job), logger);
  }

  private messageOf(job: Job): JobMessage {
    return new JobMessage(this.deps.discord, job, { clock: this.deps.clock, tokenMarginMs: this.deps.tokenMarginMs });
  }

  /**
   * A job that cannot be claimed is final already. If it succeeded but its result never
   * reached Discord (the worker died in between), deliver it from Postgres now; one whose
   * delivery failed is left to the reconciler's paced retries.
   */
  private async deliverIfUndelivered(jobId: string, logger: Logger): Promise<void> {
    const job = await getJob(this.deps.db, jobId);
    if (job === null) {
      logger.warn('job row not found; skipped');
      return;
    }
    if (job.deliveryError !== null) return;
    await this.deliverUndelivered(job);
  }
}
