// One BullMQ queue per model: a job only ever reaches a worker that has its model loaded.
// Redis carries nothing but the job id; Postgres holds the request and the job's state.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { isJobId, isModelName } from '../contract/index.js';
import { InvalidJobIdError, InvalidModelNameError } from './errors.js';

/** The one job name on every generation queue. */
export const GENERATE_JOB_NAME = 'generate';

/** The only data a queued job carries: the id of its row in Postgres (also the BullMQ job id). */
export interface GenerationJobData {
  jobId: string;
}

/** BullMQ's highest priority value (a lower number runs first). */
const PRIORITY_LIMIT = 2_097_151;

/** The BullMQ queue name for a model: `gen-<model>`. */
export function queueNameForModel(model: string): string {
  if (!isModelName(model)) throw new InvalidModelNameError(model);
  return `gen-${model}`;
}

/** The model a queue serves, or null for a name that is not a generation queue. */
export function modelForQueueName(queueName: string): string | null {
  const model = queueName.startsWith('gen-') ? queueName.slice(4) : '';
  return isModelName(model) ? model : null;
}

/** Throws InvalidJobIdError for ids BullMQ would reject (':' inside) or read as numbers. */
export function assertJobId(jobId: string): void {
  if (!isJobId(jobId)) throw new InvalidJobIdError(jobId);
}

/**
 * Fair priority: a user's first job in flight gets 1, the second 2, and so on, so one
 * user's burst never pushes another user's first job back. Equal priorities run FIFO.
 * @param userActiveJobs the user's queued or running jobs, this one included.
 */
export function fairPriority(userActiveJobs: number): number {
  return Math.min(PRIORITY_LIMIT, Math.max(1, Math.trunc(userActiveJobs)));
}

export interface GenerationQueuesOptions {
  /** Redis connection shared by every queue; the caller owns it and closes it after `close()`. */
  connection: Redis;
  /** Prefix of every key (REDIS_PREFIX). */
  prefix: string;
  /** Attempts per job before it fails for good (JOB_ATTEMPTS). @defaultValue 3 */
  attempts?: number;
  /** Delay before the first retry; it doubles with each further attempt. @defaultValue 2000 */
  backoffMs?: number;
  /**
   * Connection errors of the queues (Redis down, reconnecting); commands wait or fail on
   * their own. Without it BullMQ prints them with console.error. @defaultValue none
   */
  onError?: (err: Error, model: string) => void;
}

/** Generation queues by model, created on first use. */
export class GenerationQueues {
  readonly prefix: string;
  private readonly connection: Redis;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly onError: ((err: Error, model: string) => void) | undefined;
  private readonly queues = new Map<string, Queue<GenerationJobData>>();

  constructor(options: GenerationQueuesOptions) {
    const { attempts = 3, backoffMs = 2000 } = options;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) {
      throw new RangeError(`attempts must be a whole number between 1 and 100, got ${attempts}`);
    }
    if (!Number.isInteger(backoffMs) || backoffMs < 0) {
      throw new RangeError(`backoffMs must be a whole number of milliseconds >= 0, got ${backoffMs}`);
    }
    this.connection = options.connection;
    this.prefix = options.prefix;
    this.attempts = attempts;
    this.backoffMs = backoffMs;
    this.onError = options.onError;
  }

  forModel(model: string): Queue<GenerationJobData> {
    const name = queueNameForModel(model);
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new Queue<GenerationJobData>(name, {
        connection: this.connection,
        prefix: this.prefix,
        defaultJobOptions: {
          attempts: this.attempts,
          backoff: { type: 'exponential', delay: this.backoffMs },
          // Keep finished entries a while so a late re-enqueue of the same id stays a no-op;
          // Postgres keeps the history, Redis only needs to stay bounded.
          removeOnComplete: { age: 24 * 3600, count: 10_000 },
          removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
        },
      });
      const onError = this.onError;
      if (onError !== undefined) queue.on('error', (err) => onError(err, model));
      this.queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}

export interface EnqueueRequest {
  /** The job row's id; it becomes the BullMQ job id, so enqueueing it again is a no-op. */
  jobId: string;
  model: string;
  /** The user's queued or running jobs, this one included (`countActiveJobs` after the insert). */
  userActiveJobs: number;
}

/** Puts a job on its model's queue with a fair priority. Data is `{ jobId }` only. */
export async function enqueueGeneration(queues: GenerationQueues, request: EnqueueRequest): Promise<void> {
  assertJobId(request.jobId);
  await queues
    .forModel(request.model)
    .add(GENERATE_JOB_NAME, { jobId: request.jobId }, { jobId: request.jobId, priority: fairPriority(request.userActiveJobs) });
}
