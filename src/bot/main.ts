// npm run bot: reads the environment, checks the database schema, connects Postgres,
// Redis and Discord, and runs until SIGINT/SIGTERM.
import { config as loadDotenv } from 'dotenv';
import { Redis } from 'ioredis';
import { assertMigrationsCurrent, createDb, MigrationsBehindError } from '../db/index.js';
import { loadConfigOrExit, onShutdownSignal } from '../entry.js';
import { createLogger } from '../log.js';
import { GenerationQueues } from '../queue/index.js';
import { Bot } from './bot.js';
import { createResponseBudget } from './deadline.js';
import { ModelCatalog } from './models.js';

// .env (when present) fills in unset variables; quiet keeps stdout to JSON log lines.
loadDotenv({ quiet: true });

/** The DB checks' share of Discord's 3-second deadline before the bot defers. */
const RESPONSE_BUDGET_MS = 1500;

async function main(): Promise<void> {
  const config = loadConfigOrExit('bot', process.env, ['discord']);
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'bot', secrets: [config.DISCORD_TOKEN] });
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  const database = createDb(config.DATABASE_URL, { logger });
  try {
    await assertMigrationsCurrent(database.sql);
  } catch (error) {
    if (error instanceof MigrationsBehindError) {
      logger.fatal(error.message);
      console.error(error.message);
      await database.close();
      process.exit(1);
    }
    throw error;
  }
  // A producer fails fast while Redis is away (BullMQ's advice for queues): a command then gets
  // an error reply in time instead of waiting past Discord's deadline for a reconnect.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  redis.on('error', (err) => logger.error({ err }, 'redis error'));
  await redis.connect();
  const queues = new GenerationQueues({ connection: redis, prefix: config.REDIS_PREFIX, attempts: config.JOB_ATTEMPTS });
  const bot = new Bot({
    token: config.DISCORD_TOKEN,
    apiBase: config.DISCORD_API_BASE,
    shardCount: config.SHARD_COUNT,
    context: {
      db: database.db,
      redis,
      queues,
      models: new ModelCatalog({ redis, prefix: config.REDIS_PREFIX }),
      logger,
      clock: Date.now,
      config,
      responseBudget: createResponseBudget(RESPONSE_BUDGET_MS),
    },
  });

  onShutdownSignal(logger, async (signal) => {
    logger.info({ signal }, 'shutting down');
    await bot.stop().catch((err) => logger.error({ err }, 'error while stopping the bot'));
    await queues.close().catch((err) => logger.error({ err }, 'error while closing the queues'));
    redis.disconnect();
    await database.close();
    process.exit(0);
  });

  await bot.start();
}

main().catch((error: unknown) => {
  process.stderr.write(`bot: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
