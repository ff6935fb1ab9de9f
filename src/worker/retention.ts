// The daily retention run (src/db/retention.ts), done by one worker: every worker checks
// hourly, and the first to claim the day's run in Postgres does it and reports what it freed.
import { claimPeriodicRun, expireStoredData, type Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { WorkerMetrics } from './metrics.js';

const DAY_MS = 24 * 3600_000;

export interface RetentionRunnerOptions {
  db: Db;
  workerId: string;
  /** RETENTION_DAYS: image bytes and replays older than this are dropped; 0 keeps them. */
  retentionDays: number;
  logger: Logger;
  metrics: WorkerMetrics;
  /** Unix milliseconds. */
  clock: () => number;
  /** How often a worker tries to claim the day's run. @defaultValue 3600000 (an hour) */
  checkIntervalMs?: number;
}

export class RetentionRunner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly options: RetentionRunnerOptions) {
    const { retentionDays, checkIntervalMs = 3600_000 } = options;
    if (!Number.isInteger(retentionDays) || retentionDays < 0)
      throw new RangeError(`retentionDays must be a whole number >= 0, got ${retentionDays}`);
    if (!Number.isInteger(checkIntervalMs) || checkIntervalMs < 1000)
      throw new RangeError(`checkIntervalMs must be a whole number >= 1000, got ${checkIntervalMs}`);
  }

  /** Tries now, then every check interval. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.checkIntervalMs ?? 3600_000);
    this.timer.unref();
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private tick(): void {
    if (this.running !== null) return;
    this.running = this.runIfClaimed()
      .then(() => undefined)
      .catch((err: unknown) => this.options.logger.warn({ err }, 'retention run failed; the next check tries again'))
      .finally(() => {
        this.running = null;
      });
  }

  /** Runs the cleanup if this worker claims today's run; returns whether it ran. */
  async runIfClaimed(): Promise<boolean> {
    const { db, workerId, retentionDays, logger, metrics, clock } = this.options;
    const now = new Date(clock());
    if (!(await claimPeriodicRun(db, 'retention', { now, periodMs: DAY_MS, workerId }))) return false;
    const freed = await expireStoredData(db, { retentionDays, now });
    metrics.retentionFreed.inc({ kind: 'images' }, freed.images);
    metrics.retentionFreed.inc({ kind: 'image_bytes' }, freed.imageBytes);
    metrics.retentionFreed.inc({ kind: 'replays' }, freed.replays);
    metrics.retentionFreed.inc({ kind: 'replay_bytes' }, freed.replayBytes);
    metrics.retentionFreed.inc({ kind: 'tokens' }, freed.tokens);
    logger.info({ retentionDays, ...freed }, 'retention run: expired image bytes, replays and interaction tokens');
    return true;
  }
}
