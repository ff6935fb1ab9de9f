// npm run doctor: checks a deployment's configuration, Postgres and its migrations, Redis
// (eviction policy, persistence, live workers), every model this host serves (loaded and
// run for one step) and the Discord credentials. One line per check: ok, warn or FAIL;
// the exit code is 1 when any check fails.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { config as loadDotenv } from 'dotenv';
import { Redis } from 'ioredis';
import { type Config, ConfigError, loadConfig } from '../config.js';
import { assertMigrationsCurrent, createDb, type DbHandle } from '../db/index.js';
import { silentLogger } from '../log.js';
import type { PipelineHost } from '../pipeline/index.js';
import { liveWorkers } from '../queue/index.js';

export type CheckStatus = 'ok' | 'warn' | 'FAIL';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorOptions {
  env: NodeJS.ProcessEnv;
  /** Each result is written here as one line as soon as it is known. */
  out: { write(text: string): unknown };
  /** Longest wait for Postgres, Redis or Discord to answer, in ms. Default 5000. */
  timeoutMs?: number;
  /** Longest wait for one model to load and run one step, in ms. Default 300000. */
  modelTimeoutMs?: number;
}

class CheckTimeoutError extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeoutError(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** First line of an error's message, with its cause (fetch puts the real reason there). */
function message(error: unknown): string {
  const [text = ''] = (error instanceof Error ? error.message : String(error)).split('\n');
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined;
  return cause ? `${text} (${cause})` : text;
}

/** host:port/path of a URL, without credentials. */
function where(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

export function formatResult(result: CheckResult): string {
  return `${result.status.padEnd(4)} ${result.name.padEnd(16)} ${result.detail}`;
}

/** Runs every check in order; returns the results (also written to `out`). */
export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const results: CheckResult[] = [];
  const report = (name: string, status: CheckStatus, detail: string) => {
    const result = { name, status, detail };
    results.push(result);
    options.out.write(`${formatResult(result)}\n`);
  };

  let config: Config;
  try {
    config = loadConfig(options.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    report('config', 'FAIL', `${error.problems.join('; ')} (see .env.example)`);
    return results;
  }
  report('config', 'ok', `${Object.keys(options.env).filter((k) => k in config).length} variables set, the rest default`);

  await checkPostgres(config, timeoutMs, report);
  await checkRedis(config, timeoutMs, report);
  for (const name of config.WORKER_MODELS) await checkModel(config, name, options.modelTimeoutMs ?? 300_000, report);
  await checkDiscord(config, timeoutMs, report);
  return results;
}

type Report = (name: string, status: CheckStatus, detail: string) => void;

async function checkPostgres(config: Config, timeoutMs: number, report: Report): Promise<void> {
  let database: DbHandle | undefined;
  try {
    database = createDb(config.DATABASE_URL, { max: 1 });
    const [row] = await withTimeout(
      database.sql<{ version: string }[]>`select current_setting('server_version') as version`,
      timeoutMs,
      'Postgres',
    );
    if (row === undefined) throw new Error('the server_version query returned no row');
    report('postgres', 'ok', `PostgreSQL ${row.version} at ${where(config.DATABASE_URL)}`);
  } catch (error) {
    report('postgres', 'FAIL', `cannot use ${where(config.DATABASE_URL)}: ${message(error)}`);
    report('migrations', 'FAIL', 'not checked: Postgres is unreachable');
    await database?.close().catch(() => undefined);
    return;
  }
  try {
    await withTimeout(assertMigrationsCurrent(database.sql), timeoutMs, 'Postgres');
    report('migrations', 'ok', 'the database has every migration');
  } catch (error) {
    report('migrations', 'FAIL', message(error));
  } finally {
    await database.close();
  }
}

/** `key:value` lines of an INFO section. */
function parseInfo(text: string): Map<string, string> {
  return new Map(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

async function checkRedis(config: Config, timeoutMs: number, report: Report): Promise<void> {
  const redis = new Redis(config.REDIS_URL, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined); // failures surface through the awaited commands
  try {
    const server = parseInfo(
      await withTimeout(
        redis.connect().then(() => redis.info('server')),
        timeoutMs,
        'Redis',
      ),
    );
    report('redis', 'ok', `Redis ${server.get('redis_version') ?? '?'} at ${where(config.REDIS_URL)}`);
  } catch (error) {
    report('redis', 'FAIL', `cannot use ${where(config.REDIS_URL)}: ${message(error)}`);
    redis.disconnect();
    return;
  }
  try {
    const memory = parseInfo(await redis.info('memory'));
    const policy = memory.get('maxmemory_policy') ?? 'unknown';
    if (policy === 'noeviction') report('redis-memory', 'ok', 'maxmemory-policy noeviction');
    else
      report(
        'redis-memory',
        'FAIL',
        `maxmemory-policy is ${policy}: BullMQ needs noeviction, or Redis may delete queued jobs (redis-server --maxmemory-policy noeviction)`,
      );

    const persistence = parseInfo(await redis.info('persistence'));
    const saves = await redis.config('GET', 'save').then(
      (r) => String(r[1] ?? '').trim(),
      () => undefined,
    );
    if (persistence.get('aof_enabled') === '1') {
      const fsync = await redis.config('GET', 'appendfsync').then(
        (r) => String(r[1]),
        () => 'unknown',
      );
      report('redis-persist', 'ok', `AOF on (appendfsync ${fsync})`);
    } else if (saves) {
      report('redis-persist', 'ok', `RDB snapshots (save ${saves}); AOF would lose less on a crash (--appendonly yes)`);
    } else {
      report(
        'redis-persist',
        'warn',
        `no persistence${saves === undefined ? ' (CONFIG is disabled; AOF off)' : ''}: a Redis restart empties the queues (redis-server --appendonly yes --appendfsync everysec)`,
      );
    }

    const workers = await liveWorkers(redis, config.REDIS_PREFIX);
    const served = new Set(workers.flatMap((w) => w.models.map((m) => m.name)));
    if (workers.length === 0) report('workers', 'warn', `no live worker under prefix "${config.REDIS_PREFIX}": jobs wait until one starts`);
    else if (!served.has(config.DEFAULT_MODEL))
      report(
        'workers',
        'warn',
        `${workers.length} live, serving ${[...served].join(', ')}, but none serves DEFAULT_MODEL ${config.DEFAULT_MODEL}`,
      );
    else report('workers', 'ok', `${workers.length} live, serving ${[...served].sort().join(', ')}`);
  } catch (error) {
    report('redis', 'FAIL', message(error));
  } finally {
    redis.disconnect();
  }
}

async function checkModel(config: Config, name: string, timeoutMs: number, report: Report): Promise<void> {
  const label = `model ${name}`;
  let host: PipelineHost | undefined;
  try {
    // Imported here so that a broken onnxruntime-node install fails this check, not the doctor.
    const { PipelineHost } = await import('../pipeline/index.js');
    const loadStart = performance.now();
    const modelDir = join(config.MODELS_DIR, name);
    host = await withTimeout(
      PipelineHost.start({ modelDir, provider: config.EXECUTION_PROVIDER, logger: silentLogger(), maxPixels: config.MAX_PIXELS }),
      timeoutMs,
      `loading ${modelDir}`,
    );
    const loadMs = performance.now() - loadStart;
    const { model } = host;
    const generation = host.generate({
      prompt: 'doctor check',
      negativePrompt: '',
      seed: 1,
      steps: 1,
      guidance: 5,
      sampler: model.defaultSampler,
      width: model.nativeWidth,
      height: model.nativeHeight,
      count: 1,
      rng: 'numpy',
    });
    const output = await withTimeout(generation, timeoutMs, `one step of ${name}`);
    const detail = `${host.provider}, ${model.nativeWidth}x${model.nativeHeight}, loaded in ${(loadMs / 1000).toFixed(1)} s, one 1-step image in ${Math.round(output.timings.totalMs)} ms`;
    const fellBack = config.EXECUTION_PROVIDER === 'auto' && host.provider === 'cpu';
    report(label, fellBack ? 'warn' : 'ok', fellBack ? `${detail} (EXECUTION_PROVIDER=auto found no CUDA: running on CPU)` : detail);
  } catch (error) {
    report(label, 'FAIL', `${join(config.MODELS_DIR, name)}: ${message(error)}`);
  } finally {
    await host?.close();
  }
}

async function checkDiscord(config: Config, timeoutMs: number, report: Report): Promise<void> {
  if (!config.DISCORD_TOKEN) {
    report('discord', 'warn', 'DISCORD_TOKEN is not set: the bot and the workers refuse to start without it');
    return;
  }
  const url = `${config.DISCORD_API_BASE.replace(/\/+$/, '')}/v10/users/@me`;
  try {
    const response = await withTimeout(fetch(url, { headers: { authorization: `Bot ${config.DISCORD_TOKEN}` } }), timeoutMs, 'Discord');
    if (response.status === 401) {
      report('discord', 'FAIL', 'Discord rejected DISCORD_TOKEN (401): reset the token in the developer portal (Bot page) and update it');
      return;
    }
    if (!response.ok) {
      report('discord', 'FAIL', `GET /users/@me answered HTTP ${response.status}`);
      return;
    }
    const user = (await response.json()) as { id: string; username: string; bot?: boolean };
    const detail = `logged in as ${user.username} (${user.id})`;
    if (!user.bot) report('discord', 'FAIL', `${detail}, which is not a bot account: use the token of the application's bot`);
    else if (config.DISCORD_APPLICATION_ID && config.DISCORD_APPLICATION_ID !== user.id) {
      report(
        'discord',
        'warn',
        `${detail}, but DISCORD_APPLICATION_ID is ${config.DISCORD_APPLICATION_ID}: commands register under that application`,
      );
    } else if (!config.DISCORD_APPLICATION_ID) report('discord', 'warn', `${detail}; DISCORD_APPLICATION_ID is not set (use ${user.id})`);
    else report('discord', 'ok', detail);
  } catch (error) {
    report('discord', 'FAIL', `cannot reach ${where(config.DISCORD_API_BASE)}: ${message(error)}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  loadDotenv({ quiet: true });
  const results = await runDoctor({ env: process.env, out: process.stdout });
  const failed = results.filter((r) => r.status === 'FAIL').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  // Exit explicitly: a model that never finished loading may leave its thread running.
  process.stdout.write(`${failed} failed, ${warned} warnings, ${results.length - failed - warned} ok\n`, () =>
    process.exit(failed > 0 ? 1 : 0),
  );
}
