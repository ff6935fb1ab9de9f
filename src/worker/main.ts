// `npm run worker`: loads the configured models once, then consumes their queues until
// SIGTERM/SIGINT. Everything comes from the environment (src/config.ts); two flags exist
// for tests that need fast crash recovery:
//   --lock-duration-ms N      BullMQ job lock (default 30000)
//   --stalled-interval-ms N   BullMQ stalled-job check period (default 30000)
import { config as loadDotenv } from 'dotenv';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ConfigError } from '../config.js';
import { assertMigrationsCurrent, createDb } from '../db/index.js';
import { exitOnConfigError, loadConfigOrExit, onShutdownSignal } from '../entry.js';
import { createLogger } from '../log.js';
import type { ModelInfo } from '../contract/index.js';
import { advertisedInfo, PipelineHost } from '../pipeline/index.js';
import { DiscordMessages, createDiscordRest } from './discord.js';
import { startHealthServer } from './health.js';
import { createWorkerMetrics } from './metrics.js';
import { GenerationWorker } from './runner.js';

// .env (when present) fills in unset variables; quiet keeps stdout to JSON log lines.
loadDotenv({ quiet: true });

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 100)
    exitOnConfigError('worker', new ConfigError([`--${name}=${JSON.stringify(text)}: expected a whole number of milliseconds >= 100`]));
  return value;
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: { 'lock-duration-ms': { type: 'string' }, 'stalled-interval-ms': { type: 'string' } },
  });
  const lockDurationMs = positiveInt('lock-duration-ms', flags['lock-duration-ms']);
  const stalledIntervalMs = positiveInt('stalled-interval-ms', flags['stalled-interval-ms']);
  const config = loadConfigOrExit('worker', process.env, ['discord']);
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker', secrets: [config.DISCORD_TOKEN] });
  const workerId = `${hostname()}:${process.pid}`;
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

  const database = createDb(config.DATABASE_URL, { logger, max: 4 });
  await assertMigrationsCurrent(database.sql);
  // Workers must wait out Redis outages rather than fail commands (BullMQ's requirement).
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));

  const generators = new Map<string, PipelineHost>();
  const models: ModelInfo[] = [];
  for (const name of config.WORKER_MODELS) {
    const host = await PipelineHost.start({
      modelDir: join(config.MODELS_DIR, name),
      provider: config.EXECUTION_PROVIDER,
      logger,
      maxPixels: config.MAX_PIXELS,
      // A few previews per edit interval keep the one shown fresh without a decode per step.
      previewIntervalMs: Math.floor(config.PREVIEW_INTERVAL_MS / 4),
    });
    generators.set(name, host);
    models.push(advertisedInfo(host.model));
    logger.info({ model: name, provider: host.provider }, 'model loaded');
  }

  const metrics = createWorkerMetrics();
  // Listen before taking jobs: a taken port (a second worker on this machine with the same
  // HEALTH_PORT) stops this process before it claims one. 503 "starting" until consuming.
  let worker: GenerationWorker | null = null;
  const health = await startHealthServer({
    port: config.HEALTH_PORT,
    health: () => worker?.health() ?? { ok: false, checks: { consuming: { ok: false, detail: 'starting' } } },
    metrics: async () => {
      await worker?.sampleQueueDepth();
      return metrics.registry.render();
    },
  });
  let stopping: Promise<void> | null = null;
  /** One shutdown for a signal (exit 0) and for a dead pipeline thread (exit 1, for the supervisor to restart us). */
  const stopAndExit = (exitCode: 0 | 1): Promise<void> =>
    (stopping ??= (async () => {
      await worker?.close(config.SHUTDOWN_GRACE_MS);
      await Promise.all([...generators.values()].map((g) => g.close()));
      await health.close();
      redis.disconnect();
      await database.close();
      logger.info({ exitCode }, 'stopped');
      process.exit(exitCode);
    })());
  const rest = createDiscordRest({ token: config.DISCORD_TOKEN, apiBase: config.DISCORD_API_BASE });
  worker = await GenerationWorker.start({
    db: database.db,
    redis,
    prefix: config.REDIS_PREFIX,
    workerId,
    generators,
    models,
    discord: new DiscordMessages(rest, config.DISCORD_APPLICATION_ID, () => metrics.discordRateLimits.inc()),
    metrics,
    logger,
    clock: Date.now,
    previewIntervalMs: config.PREVIEW_INTERVAL_MS,
    maxUploadBytes: config.DISCORD_MAX_UPLOAD_BYTES,
    tokenMarginMs: 60_000,
    retentionDays: config.RETENTION_DAYS,
    jobAttempts: config.JOB_ATTEMPTS,
    reconcile: {
      intervalMs: config.RECONCILE_INTERVAL_MS,
      stallTimeoutMs: config.STALL_TIMEOUT_MS,
      noWorkerTimeoutMs: config.NO_WORKER_TIMEOUT_MS,
      maxWaitMs: config.MAX_WAIT_MS,
    },
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs,
    stalledIntervalMs,
    onPipelineDeath: (model) => {
      logger.error({ model, graceMs: config.SHUTDOWN_GRACE_MS }, 'a pipeline thread died: shutting down to be restarted (exit 1)');
      stopAndExit(1).catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
    },
  });
  // The actual port (HEALTH_PORT=0 picks one), logged once the worker consumes.
  logger.info({ healthPort: health.port }, 'health and metrics listening');

  onShutdownSignal(
    logger,
    async (signal) => {
      logger.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down');
      await stopAndExit(0);
    },
    { beforeForcedExit: () => worker.closeNow() },
  );
}

main().catch((err: unknown) => {
  // Configuration and migration problems are the operator's to fix: print them plainly.
  process.stderr.write(`worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
