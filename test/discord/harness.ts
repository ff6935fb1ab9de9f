// A real bot (src/bot) against the local Discord server, a fresh Postgres database and a
// fresh Redis prefix: what the bot and e2e test files start in beforeAll. The bot runs in
// this process, or as its own process (`npm run bot`) where timing matters.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Bot } from '../../src/bot/bot.js';
import type { BotConfig, BotContext } from '../../src/bot/context.js';
import { createResponseBudget } from '../../src/bot/deadline.js';
import { deployCommands } from '../../src/bot/deploy.js';
import { ModelCatalog } from '../../src/bot/models.js';
import { REST } from 'discord.js';
import { createLogger, type Logger } from '../../src/log.js';
import { SAMPLERS, type ModelInfo } from '../../src/contract/index.js';
import { GenerationQueues, Heartbeat } from '../../src/queue/index.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { dropPrefix, freshPrefix, SHARED_REDIS_URL } from '../support/redis.js';
import { startFakeDiscord, type FakeDiscord, type FakeDiscordOptions } from './server.js';

/** What the demo model's workers advertise (tests that run no worker advertise it themselves). */
export const DEMO_MODEL: ModelInfo = {
  name: 'shapes-demo',
  nativeWidth: 128,
  nativeHeight: 128,
  sizeMultiple: 64,
  fixedSize: null,
  defaultSampler: 'euler',
  samplers: [...SAMPLERS],
  supportsImg2Img: true,
};

export interface HarnessOptions {
  /** Label for the database and Redis prefix names. */
  label: string;
  config?: Partial<BotConfig>;
  discord?: FakeDiscordOptions;
  /** Advertise DEMO_MODEL with a worker heartbeat, as if a worker were running. Default true. */
  advertiseModel?: boolean;
  responseBudgetMs?: number;
  logger?: Logger;
  /** Run the bot as its own process (src/bot/main.ts) instead of in this one. Default false. */
  botProcess?: boolean;
  /** The bot's SHARD_COUNT. Default 'auto' (the local server recommends 1 shard unless told otherwise). */
  shardCount?: 'auto' | number;
}

/** A started bot, in this process or its own. */
export interface RunningBot {
  stop(): Promise<void>;
  /** Output lines of a bot process (pino JSON at LOG_LEVEL, default warn); empty in this process. */
  lines: string[];
}

export interface Harness {
  discord: FakeDiscord;
  pg: TestDatabase;
  redis: Redis;
  prefix: string;
  context: BotContext;
  bot: RunningBot;
  /** Stops the bot and starts a fresh one on the same database, Redis and Discord. */
  restartBot(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const discord = await startFakeDiscord(options.discord);
  const pg = await createTestDatabase(options.label);
  const prefix = freshPrefix(options.label);
  const redis = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: null });
  const queues = new GenerationQueues({ connection: redis, prefix });
  const heartbeat =
    options.advertiseModel === false ? null : new Heartbeat({ redis, prefix, workerId: `test:${process.pid}`, models: [DEMO_MODEL] });
  await heartbeat?.start();
  const config: BotConfig = {
    ADMIN_USER_IDS: [],
    ADMIN_ROLE_IDS: [],
    MANAGE_SERVER_ADMINS: true,
    BANNED_WORDS: [],
    ATTACHMENT_HOSTS: [`http://${new URL(discord.origin).host}`],
    MAX_INPUT_BYTES: 10 * 1024 * 1024,
    MAX_INPUT_PIXELS: 4096 * 4096,
    DEFAULT_MODEL: DEMO_MODEL.name,
    DEFAULT_QUOTA: 50,
    MAX_JOBS_PER_USER: 3,
    MAX_PERMUTATIONS: 4,
    MAX_PIXELS: 1024 * 1024,
    DISCORD_MAX_UPLOAD_BYTES: 10 * 1024 * 1024,
    REDIS_PREFIX: prefix,
    ...options.config,
  };
  const logger = options.logger ?? createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', secrets: [discord.botToken] });
  const context: BotContext = {
    db: pg.db,
    redis,
    queues,
    models: new ModelCatalog({ redis, prefix, cacheMs: 0 }),
    logger,
    clock: Date.now,
    config,
    responseBudget: createResponseBudget(options.responseBudgetMs ?? 1500),
  };
  await deployCommands(new REST({ api: discord.apiBase }).setToken(discord.botToken), discord.applicationId);
  const newBot = async (): Promise<RunningBot> => {
    if (options.botProcess) return startBotProcess(discord, pg.url, config, options.shardCount ?? 'auto');
    const bot = new Bot({ context, token: discord.botToken, apiBase: discord.apiBase, shardCount: options.shardCount });
    await bot.start();
    return { stop: () => bot.stop(), lines: [] };
  };
  const harness: Harness = {
    discord,
    pg,
    redis,
    prefix,
    context,
    bot: await newBot(),
    async restartBot() {
      await harness.bot.stop();
      harness.bot = await newBot();
    },
    async close() {
      await harness.bot.stop();
      await heartbeat?.stop();
      await queues.close();
      await dropPrefix(redis, prefix);
      redis.disconnect();
      await discord.close();
      await pg.drop();
    },
  };
  return harness;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ScriptProcess {
  child: ChildProcess;
  /** stdout and stderr lines so far. */
  lines: string[];
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited within 15 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** Runs an entry point (`src/...ts`) of this repository with tsx and extra environment. */
export function spawnScript(script: string, env: Record<string, string>): ScriptProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer) =>
    lines.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((l) => l.length > 0),
    );
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      // A process that does not stop in time must not outlive the test run.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The environment that points an entry point at the local Discord server. */
export function discordEnv(discord: FakeDiscord): Record<string, string> {
  return {
    DISCORD_TOKEN: discord.botToken,
    DISCORD_APPLICATION_ID: discord.applicationId,
    DISCORD_API_BASE: discord.apiBase,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
  };
}

/** `npm run bot` with this configuration; resolves once it has logged in to the local server. */
async function startBotProcess(
  discord: FakeDiscord,
  databaseUrl: string,
  config: BotConfig,
  shardCount: 'auto' | number,
): Promise<RunningBot> {
  const env: Record<string, string> = { ...discordEnv(discord), DATABASE_URL: databaseUrl, SHARD_COUNT: String(shardCount) };
  for (const [key, value] of Object.entries(config)) env[key] = Array.isArray(value) ? value.join(',') : String(value);
  const bot = spawnScript('src/bot/main.ts', env);
  await Promise.race([
    discord.waitForReady(30_000),
    bot.exited.then((code) => Promise.reject(new Error(`the bot process exited with ${code}: ${bot.lines.join('\n')}`))),
  ]);
  return { lines: bot.lines, stop: () => bot.stop() };
}
