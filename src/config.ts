// The one place that reads the environment. Entry points call loadConfig() and pass
// the typed values down; library modules never look at process.env.
import { z } from 'zod';
import { MAX_QUOTA_AMOUNT } from './db/quota.js';

const idList = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  )
  .pipe(z.array(z.string().regex(/^\d{15,21}$/, 'a comma-separated list of Discord ids (snowflakes)')));

const wordList = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  );

const int = (def: number, min: number, max: number) =>
  z.coerce
    .number({ error: `a whole number between ${min} and ${max}` })
    .int(`a whole number between ${min} and ${max}`)
    .min(min, `a whole number between ${min} and ${max}`)
    .max(max, `a whole number between ${min} and ${max}`)
    .default(def);

const url = (def: string, protocols: string[]) =>
  z
    .string()
    .default(def)
    .refine(
      (s) => {
        try {
          return protocols.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    );

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** `host[:port]` entries (https), or `http://host[:port]` where plain HTTP is meant (a test server). */
const hostList = z
  .string()
  .default('cdn.discordapp.com,media.discordapp.net')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(/^(http:\/\/)?[a-zA-Z0-9.-]+(:\d{1,5})?$/, 'comma-separated host[:port] entries (http://host[:port] for plain HTTP)'),
    ),
  );

const optional = (schema: z.ZodString) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

export const envSchema = z.object({
  DATABASE_URL: url('postgres://postgres@127.0.0.1:5432/imagine', ['postgres:', 'postgresql:']),
  REDIS_URL: url('redis://127.0.0.1:6379', ['redis:', 'rediss:']),
  /** Prefix for every Redis key and BullMQ queue, so several deployments (or tests) share one Redis. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,40}$/, 'letters, digits, _ and - (1-40)')
    .default('imagine'),

  DISCORD_TOKEN: optional(z.string().min(20, 'a bot token from the Discord developer portal')),
  DISCORD_APPLICATION_ID: optional(z.string().regex(/^\d{15,21}$/, 'the application id (a snowflake)')),
  DISCORD_GUILD_ID: optional(z.string().regex(/^\d{15,21}$/, 'a guild id (a snowflake)')),
  DISCORD_API_BASE: url('https://discord.com/api', ['http:', 'https:']).refine(
    (s) => !/\/v\d+\/?$/.test(s),
    'the API base without the version suffix (like https://discord.com/api)',
  ),
  DISCORD_MAX_UPLOAD_BYTES: int(10 * 1024 * 1024, 256 * 1024, 500 * 1024 * 1024),
  /** Gateway shards the bot process runs: auto (Discord's recommendation) or a fixed count. */
  SHARD_COUNT: z
    .string()
    .default('auto')
    .refine(
      (s) => s === 'auto' || (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 1024),
      'auto or a whole number of shards from 1 to 1024',
    )
    .transform((s): 'auto' | number => (s === 'auto' ? 'auto' : Number(s))),

  ADMIN_USER_IDS: idList,
  ADMIN_ROLE_IDS: idList,
  /** Members with the Manage Server permission are admins of their own server (as ADMIN_ROLE_IDS roles are). */
  MANAGE_SERVER_ADMINS: bool(true),
  DEFAULT_QUOTA: int(50, 0, MAX_QUOTA_AMOUNT),
  MAX_JOBS_PER_USER: int(3, 1, 100),
  /** Prompts one `{a, b}` prompt may make (one job each); never more than MAX_JOBS_PER_USER. */
  MAX_PERMUTATIONS: int(4, 1, 16),
  BANNED_WORDS: wordList,
  /** Where /imagine's picture may be fetched from: Discord's CDN. */
  ATTACHMENT_HOSTS: hostList,
  MAX_INPUT_BYTES: int(10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  MAX_INPUT_PIXELS: int(4096 * 4096, 64 * 64, 8192 * 8192),
  /** Days image bytes and replays are kept (0: forever); expired images are regenerated on demand. */
  RETENTION_DAYS: int(30, 0, 36_500),

  MODELS_DIR: z.string().min(1).default('models'),
  WORKER_MODELS: wordList.pipe(z.array(z.string().regex(/^[a-zA-Z0-9._-]+$/, 'model folder names'))),
  DEFAULT_MODEL: z
    .string()
    .regex(/^[a-zA-Z0-9._-]+$/, 'a model folder name')
    .default('shapes-demo'),
  EXECUTION_PROVIDER: z.enum(['cpu', 'cuda', 'auto'], { error: 'one of cpu, cuda, auto' }).default('auto'),
  MAX_PIXELS: int(1024 * 1024, 64 * 64, 4096 * 4096),

  WORKER_CONCURRENCY: int(1, 1, 16),
  JOB_ATTEMPTS: int(3, 1, 20),
  /** How often the workers' reconciler (one leader at a time) compares Postgres with the queues. */
  RECONCILE_INTERVAL_MS: int(30_000, 1000, 3_600_000),
  /** A running job nobody runs (its worker's heartbeat is gone) this long goes back to the queue. */
  STALL_TIMEOUT_MS: int(60_000, 1000, 86_400_000),
  /** A queued job whose model no live worker serves this long: its message says it waits. */
  NO_WORKER_TIMEOUT_MS: int(600_000, 1000, 7 * 86_400_000),
  /** ... and this long: it is cancelled and refunded. Not below NO_WORKER_TIMEOUT_MS. */
  MAX_WAIT_MS: int(3_600_000, 1000, 30 * 86_400_000),
  PREVIEW_INTERVAL_MS: int(1500, 200, 60_000),
  SHUTDOWN_GRACE_MS: int(30_000, 1000, 600_000),
  /** The worker's /healthz and /metrics port; 0 picks a free one (several workers on one machine), logged at start. */
  HEALTH_PORT: int(9464, 0, 65535),

  HF_ENDPOINT: url('https://huggingface.co', ['http:', 'https:']),
  HF_TOKEN: optional(z.string().min(1)),

  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'a pino level (info, debug, ...)' })
    .default('info'),
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Variables whose values are secrets: a ConfigError names them but never shows their value. */
const SECRET_VARIABLES = new Set(['DISCORD_TOKEN', 'HF_TOKEN']);

/** The value as an error message may show it: secrets hidden, passwords in URLs masked. */
function shownValue(name: string, value: string): string {
  if (SECRET_VARIABLES.has(name)) return value === '' ? '' : `(hidden, ${value.length} characters)`;
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

/** Variables an entry point cannot run without. */
export type Requirement = 'discord';

const REQUIRED = {
  discord: ['DISCORD_TOKEN', 'DISCORD_APPLICATION_ID'],
} as const satisfies Record<Requirement, readonly (keyof Config)[]>;

/** The configuration once the requirements are checked: their variables are set. */
export type ConfigWith<R extends Requirement> = Config & { [K in (typeof REQUIRED)[R][number]]-?: NonNullable<Config[K]> };

/** Validates every variable at once; throws ConfigError naming each bad one and what it expects. */
export function loadConfig<R extends Requirement = never>(env: NodeJS.ProcessEnv, requirements: readonly R[] = []): ConfigWith<R> {
  const cleaned = Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const parsed = envSchema.safeParse(cleaned);
  const problems = new Set<string>();
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      problems.add(`${name}=${JSON.stringify(shownValue(name, env[name] ?? ''))}: expected ${issue.message}`);
    }
  } else {
    for (const req of requirements) {
      for (const key of REQUIRED[req]) {
        if (parsed.data[key] === undefined) problems.add(`${key} is required but not set`);
      }
    }
  }
  if (parsed.success && parsed.data.MAX_WAIT_MS < parsed.data.NO_WORKER_TIMEOUT_MS) {
    problems.add(`MAX_WAIT_MS=${parsed.data.MAX_WAIT_MS}: expected at least NO_WORKER_TIMEOUT_MS (${parsed.data.NO_WORKER_TIMEOUT_MS})`);
  }
  if (problems.size > 0 || !parsed.success) throw new ConfigError([...problems]);
  const config = parsed.data;
  if (config.WORKER_MODELS.length === 0) config.WORKER_MODELS = [config.DEFAULT_MODEL];
  // Every variable of each requirement was checked above.
  return config as ConfigWith<R>;
}
