// Worker heartbeats: each live worker keeps `<prefix>:worker:<host>:<pid>` in Redis with a
// short TTL. A worker that dies stops refreshing it and drops out within the TTL, so the
// bot only offers models that some live worker can actually run. A worker advertises only
// the models it can run now: one whose pipeline thread died is left out at the next beat,
// and a worker with none left deletes its key.
import type { Redis } from 'ioredis';
import { parseModelInfo, type ModelInfo } from '../contract/index.js';

export interface WorkerHeartbeat {
  /** `<host>:<pid>` */
  id: string;
  models: ModelInfo[];
  /** Unix milliseconds. */
  startedAt: number;
  /** Unix milliseconds of the last job this worker picked up, null before the first. */
  lastJobAt: number | null;
}

export function workerKey(prefix: string, workerId: string): string {
  return `${prefix}:worker:${workerId}`;
}

export interface HeartbeatOptions {
  redis: Redis;
  prefix: string;
  workerId: string;
  /** What it advertises; a function is read at every beat (a worker leaves out a model it cannot run any more). */
  models: ModelInfo[] | (() => ModelInfo[]);
  /** Lifetime of the key without a refresh. @defaultValue 15000 */
  ttlMs?: number;
  /** Refresh period; must be shorter than ttlMs. @defaultValue 5000 */
  intervalMs?: number;
  /** Unix milliseconds. @defaultValue Date.now */
  clock?: () => number;
  /** Called when a refresh fails (Redis down); the next tick tries again. */
  onError?: (err: unknown) => void;
}

/** Keeps this worker's heartbeat key alive until `stop()`. */
export class Heartbeat {
  private readonly redis: Redis;
  private readonly key: string;
  private readonly ttlMs: number;
  private readonly intervalMs: number;
  private readonly clock: () => number;
  private readonly onError: (err: unknown) => void;
  private readonly models: () => ModelInfo[];
  private readonly state: Omit<WorkerHeartbeat, 'models'>;
  private timer: NodeJS.Timeout | null = null;
  /** The beats in order, one at a time: a late SET must never bring back a deleted key. */
  private writes: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Unix milliseconds of the last successful write, null before it (health checks read it). */
  lastBeatAt: number | null = null;

  constructor(options: HeartbeatOptions) {
    const { ttlMs = 15_000, intervalMs = 5_000, clock = Date.now } = options;
    if (!Number.isInteger(ttlMs) || ttlMs < 1000) throw new RangeError(`ttlMs must be a whole number >= 1000, got ${ttlMs}`);
    if (!Number.isInteger(intervalMs) || intervalMs < 10 || intervalMs >= ttlMs) {
      throw new RangeError(`intervalMs must be a whole number >= 10 and below ttlMs (${ttlMs}), got ${intervalMs}`);
    }
    this.redis = options.redis;
    this.key = workerKey(options.prefix, options.workerId);
    this.ttlMs = ttlMs;
    this.intervalMs = intervalMs;
    this.clock = clock;
    this.onError = options.onError ?? (() => {});
    const models = options.models;
    this.models = typeof models === 'function' ? models : () => models;
    this.state = { id: options.workerId, startedAt: clock(), lastJobAt: null };
  }

  /** Writes the key now and then every intervalMs. Rejects if the first write fails. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch(this.onError);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Records that a job was picked up (shown in the next beat). */
  noteJob(): void {
    this.state.lastJobAt = this.clock();
  }

  /** Writes the key now, or deletes it while there is nothing to advertise; after stop(), nothing. */
  beat(): Promise<void> {
    const write = this.writes.then(() => this.write());
    this.writes = write.catch(() => undefined);
    return write;
  }

  private async write(): Promise<void> {
    if (this.stopped) return;
    const models = this.models();
    if (models.length === 0) await this.redis.del(this.key);
    else await this.redis.set(this.key, JSON.stringify({ ...this.state, models } satisfies WorkerHeartbeat), 'PX', this.ttlMs);
    this.lastBeatAt = this.clock();
  }

  /** Stops refreshing and removes the key (after a beat under way), so the worker disappears at once. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.stopped = true;
    await this.writes;
    await this.redis.del(this.key);
  }
}

/** Every worker whose heartbeat key is alive. */
export async function liveWorkers(redis: Redis, prefix: string): Promise<WorkerHeartbeat[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', workerKey(prefix, '*'), 'COUNT', 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length === 0) return [];
  const values = await redis.mget(...keys);
  const workers: WorkerHeartbeat[] = [];
  for (const value of values) {
    // A key may expire between SCAN and MGET.
    if (value === null) continue;
    const beat = JSON.parse(value) as WorkerHeartbeat;
    const models = Array.isArray(beat.models) ? beat.models.map(parseModelInfo).filter((m): m is ModelInfo => m !== null) : [];
    workers.push({ ...beat, models });
  }
  return workers;
}

/** The models some live worker serves, each once, sorted by name. */
export async function liveModels(redis: Redis, prefix: string): Promise<ModelInfo[]> {
  const byName = new Map<string, ModelInfo>();
  for (const worker of await liveWorkers(redis, prefix)) {
    for (const model of worker.models) byName.set(model.name, model);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
