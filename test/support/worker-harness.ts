// What the worker tests share: the local Discord server with a discord.js client standing
// in for the bot (it answers each /imagine with a public "queued" message, as the bot
// does), a fresh Postgres database, a fresh Redis prefix, job rows created the way the
// bot creates them, and real worker processes (`src/worker/main.ts`) that can be killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { Redis } from 'ioredis';
import type { JobParams } from '../../src/contract/index.js';
import { countActiveJobs, createJobWithReservation, getJob, setMessageId, type Job } from '../../src/db/index.js';
import { silentLogger } from '../../src/log.js';
import { GenerationQueues, enqueueGeneration } from '../../src/queue/index.js';
import { DiscordMessages, createDiscordRest } from '../../src/worker/discord.js';
import { createWorkerMetrics } from '../../src/worker/metrics.js';
import type { ProcessorDeps } from '../../src/worker/processor.js';
import { startFakeDiscord, type FakeDiscord, type FakeUser, type RecordedRequest, type StoredMessage } from '../discord/server.js';
import { createTestDatabase, type TestDatabase } from './pg.js';
import { SHARED_REDIS_URL, dropPrefix, freshPrefix } from './redis.js';

export const DEMO_MODEL = 'shapes-demo';
/** Where the demo model folder lives; TEST_MODELS_DIR points elsewhere (e.g. a scratch export). */
export const MODELS_DIR = process.env.TEST_MODELS_DIR ?? 'models';

export interface WorkerProcess {
  child: ChildProcess;
  /** Every stdout/stderr line so far (pino JSON or plain text). */
  lines: string[];
  /** Resolves with the health port once the worker consumes. */
  ready: Promise<number>;
  exited: Promise<number | null>;
  /** Resolves when a log line matches. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Node options before the script (the soak's `--expose-gc`, `--inspect=127.0.0.1:0`). */
  nodeArgs?: string[];
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  redisUrl?: string;
}

export interface NewJobOptions {
  user: FakeUser;
  params?: Partial<JobParams>;
  kind?: 'imagine' | 'variation' | 'reroll' | 'rerun';
  parent?: { jobId: string; index: number };
  /** Put it on the queue too (as the bot does). Default true. */
  enqueue?: boolean;
}

/** Whether a message (or a request body) has a result's buttons: U1 (a grid) or Rerun (one image). */
export function hasResultButtons(message: { components?: unknown } | null | undefined): boolean {
  const rows = message?.components;
  if (!Array.isArray(rows)) return false;
  return (rows as { components: { label?: string }[] }[])
    .flatMap((row) => row.components)
    .some((b) => b.label === 'U1' || b.label === 'Rerun');
}

export class WorkerHarness {
  readonly workers: WorkerProcess[] = [];
  private constructor(
    readonly discord: FakeDiscord,
    readonly pg: TestDatabase,
    readonly redis: Redis,
    readonly redisUrl: string,
    readonly prefix: string,
    readonly queues: GenerationQueues,
    private readonly client: Client,
    /** The stand-in bot's replies to the commands; newJob awaits them, so a failed reply fails its test. */
    private readonly replies: Promise<unknown>[],
  ) {}

  /** @param options redisUrl: a private Redis (default the shared one); pgAdminUrl: a private Postgres cluster's (default the shared server). */
  static async start(label: string, options: { redisUrl?: string; pgAdminUrl?: string } = {}): Promise<WorkerHarness> {
    const discord = await startFakeDiscord();
    const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiBase } });
    const replies: Promise<unknown>[] = [];
    client.on(Events.InteractionCreate, (interaction) => {
      if (interaction.isChatInputCommand()) replies.push(interaction.reply({ content: 'queued' }));
    });
    await client.login(discord.botToken);
    await discord.waitForReady();
    const pg = await createTestDatabase(label.replace(/[^a-z0-9_]/g, '_'), { adminUrl: options.pgAdminUrl });
    const redisUrl = options.redisUrl ?? SHARED_REDIS_URL;
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    redis.on('error', () => {});
    const prefix = freshPrefix(label);
    const queues = new GenerationQueues({ connection: redis, prefix, attempts: 3, backoffMs: 200, onError: () => {} });
    return new WorkerHarness(discord, pg, redis, redisUrl, prefix, queues, client, replies);
  }

  defaultParams(overrides: Partial<JobParams> = {}): JobParams {
    return {
      prompt: 'a red circle on a blue background',
      negativePrompt: '',
      model: DEMO_MODEL,
      sampler: 'euler',
      steps: 6,
      guidance: 5,
      width: 128,
      height: 128,
      count: 4,
      seed: 1234,
      rng: 'numpy',
      init: null,
      edit: null,
      ...overrides,
    };
  }

  /** Does what the bot does for /imagine: a public queued message, the job row, the enqueue. */
  async newJob(options: NewJobOptions): Promise<{ job: Job; message: StoredMessage; enqueuedAt: number }> {
    const handle = await this.discord.sendCommand({ name: 'imagine', options: [], user: options.user });
    await handle.response();
    await Promise.all(this.replies);
    const message = handle.original();
    if (!message) throw new Error(`no queued message for interaction ${handle.id}`);
    const params = this.defaultParams(options.params);
    const created = await createJobWithReservation(this.pg.db, {
      interactionId: handle.id,
      interactionToken: handle.token,
      userId: options.user.id,
      channelId: message.channelId,
      guildId: message.guildId,
      kind: options.kind ?? 'imagine',
      params,
      parent: options.parent ?? null,
      maxActiveJobs: 100,
      defaultLimit: 10_000,
    });
    if (!created.ok) throw new Error(`job refused: ${created.reason}`);
    await setMessageId(this.pg.db, created.job.id, message.id);
    const userActiveJobs = await countActiveJobs(this.pg.db, options.user.id);
    /** Epoch ms with sub-ms precision, as the local Discord server records requests. */
    const enqueuedAt = performance.timeOrigin + performance.now();
    if (options.enqueue ?? true) await enqueueGeneration(this.queues, { jobId: created.job.id, model: params.model, userActiveJobs });
    return { job: { ...created.job, messageId: message.id }, message, enqueuedAt };
  }

  spawnWorker(options: SpawnOptions = {}): WorkerProcess {
    const flags = [
      ...(options.lockDurationMs === undefined ? [] : ['--lock-duration-ms', String(options.lockDurationMs)]),
      ...(options.stalledIntervalMs === undefined ? [] : ['--stalled-interval-ms', String(options.stalledIntervalMs)]),
    ];
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', 'src/worker/main.ts', ...flags], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: this.pg.url,
        REDIS_URL: options.redisUrl ?? this.redisUrl,
        REDIS_PREFIX: this.prefix,
        DISCORD_TOKEN: this.discord.botToken,
        DISCORD_APPLICATION_ID: this.discord.applicationId,
        DISCORD_API_BASE: this.discord.apiBase,
        MODELS_DIR,
        WORKER_MODELS: DEMO_MODEL,
        EXECUTION_PROVIDER: 'cpu',
        PREVIEW_INTERVAL_MS: '200',
        SHUTDOWN_GRACE_MS: '5000',
        HEALTH_PORT: '0',
        LOG_LEVEL: 'info',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // ONNX Runtime takes every core; at a lower priority it cannot starve the test files that
    // run beside this one (their bots must answer within Discord's 3 seconds), as in e2e.test.ts.
    if (child.pid !== undefined) setPriority(child.pid, 10);
    const lines: string[] = [];
    const waiters = new Set<(line: string) => void>();
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        lines.push(line);
        for (const w of [...waiters]) w(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const waitForLine = (predicate: (line: string) => boolean, timeoutMs = 60_000) => {
      const found = lines.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`worker log line not seen within ${timeoutMs} ms; last lines:\n${lines.slice(-15).join('\n')}`));
        }, timeoutMs);
        const waiter = (line: string) => {
          if (!predicate(line)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(line);
        };
        waiters.add(waiter);
        void exited.then(() => {
          if (!waiters.has(waiter)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          reject(new Error(`worker exited before the expected log line; last lines:\n${lines.slice(-15).join('\n')}`));
        });
      });
    };
    const ready = waitForLine((l) => l.includes('health and metrics listening')).then(
      (l) => (JSON.parse(l) as { healthPort: number }).healthPort,
    );
    ready.catch(() => {}); // a worker killed before it was ready is fine unless a test awaits it
    const worker: WorkerProcess = { child, lines, ready, exited, waitForLine };
    this.workers.push(worker);
    return worker;
  }

  /** The job's final result messages Discord accepted: edits or channel posts with the result's buttons. */
  /** What an in-process worker or processor needs from this harness: its connections, Discord, fresh metrics, quiet logs. */
  processorDeps(workerId: string) {
    return {
      db: this.pg.db,
      redis: this.redis,
      prefix: this.prefix,
      workerId,
      discord: new DiscordMessages(
        createDiscordRest({ token: this.discord.botToken, apiBase: this.discord.apiBase }),
        this.discord.applicationId,
      ),
      metrics: createWorkerMetrics(),
      logger: silentLogger(),
      clock: Date.now,
      previewIntervalMs: 200,
      maxUploadBytes: 10 * 1024 * 1024,
      tokenMarginMs: 60_000,
    } satisfies Partial<ProcessorDeps>;
  }

  finalEdits(job: Job): RecordedRequest[] {
    return this.discord.requests.filter(
      (r) =>
        (r.path.includes(`/${job.interactionToken}/messages/`) || r.path === `/channels/${job.channelId}/messages`) &&
        r.response?.status === 200 &&
        typeof r.json?.content === 'string' &&
        r.json.content.includes(job.id) &&
        hasResultButtons(r.json as { components?: unknown }),
    );
  }

  /** The kinds of the job's quota ledger entries, in order ('charge', 'refund'). */
  async ledgerKinds(jobId: string): Promise<string[]> {
    const rows = await this.pg.sql<{ kind: string }[]>`select kind from quota_ledger where job_id = ${jobId} order by id`;
    return rows.map((r) => r.kind);
  }

  /** Polls Postgres until `done(job)` holds. */
  async waitForJob(jobId: string, done: (job: Job) => boolean, what: string, timeoutMs = 60_000): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Another suite may kill backends (pg_terminate_backend tests); the pool reconnects.
      const job = await getJob(this.pg.db, jobId).catch(() => null);
      if (job !== null && done(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} (${job?.status ?? 'missing'}) not ${what} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until the job is final and its final message was delivered (or failed to be). */
  waitForDelivery(jobId: string, timeoutMs = 60_000): Promise<Job> {
    return this.waitForJob(jobId, (j) => j.deliveredAt !== null || j.deliveryError !== null, 'delivered', timeoutMs);
  }

  async close(): Promise<void> {
    for (const w of this.workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill('SIGKILL');
        await w.exited;
      }
    }
    await this.client.destroy();
    await this.queues.close();
    await dropPrefix(this.redis, this.prefix).catch(() => {});
    this.redis.disconnect();
    await this.pg.drop();
    await this.discord.close();
  }
}
