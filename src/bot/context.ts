// Everything a command or button handler needs, passed in (never found through globals),
// so tests build the same bot against their own database, Redis prefix and clock.
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { GenerationQueues } from '../queue/index.js';
import type { ResponseBudget } from './deadline.js';
import type { ModelCatalog } from './models.js';

/** The configuration the bot reads (a subset of src/config.ts). */
export type BotConfig = Pick<
  Config,
  | 'ADMIN_USER_IDS'
  | 'ADMIN_ROLE_IDS'
  | 'MANAGE_SERVER_ADMINS'
  | 'BANNED_WORDS'
  | 'ATTACHMENT_HOSTS'
  | 'MAX_INPUT_BYTES'
  | 'MAX_INPUT_PIXELS'
  | 'DEFAULT_MODEL'
  | 'DEFAULT_QUOTA'
  | 'MAX_JOBS_PER_USER'
  | 'MAX_PERMUTATIONS'
  | 'MAX_PIXELS'
  | 'DISCORD_MAX_UPLOAD_BYTES'
  | 'REDIS_PREFIX'
>;

export interface BotContext {
  db: Db;
  /** For cancel messages; the queues have their own connection. */
  redis: Redis;
  queues: GenerationQueues;
  models: ModelCatalog;
  logger: Logger;
  /** Unix milliseconds. */
  clock: () => number;
  config: BotConfig;
  /** Discord's first-response deadline, shared by this bot's handlers (deadline.ts). */
  responseBudget: ResponseBudget;
}
