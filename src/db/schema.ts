// Drizzle schema: the single source for `npx drizzle-kit generate` (SQL in migrations/)
// and for typed queries. Discord ids are text snowflakes. Times are timestamptz. The job
// columns' CHECKs are generated from the job contract's limits and name lists.
import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
// The contract's own modules, not its index: the schema needs no image code.
import { JOB_KINDS, RNG_NAMES, SAMPLERS, type JobKind, type RngName, type SamplerName } from '../contract/names.js';
import { LIMITS } from '../contract/request.js';
import type { Edit } from '../contract/edits.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Statuses a job never leaves. */
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/**
 * Ledger entry kinds. `used_delta` changes `quotas.used`, `bonus_delta` changes `quotas.bonus`:
 * charge (+cost used), refund (-cost used), grant (+n bonus), reset (-used), limit (a new
 * limit; both deltas 0, the new value is in `reason`).
 */
export const LEDGER_KINDS = ['charge', 'refund', 'grant', 'reset', 'limit'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

const sqlList = (values: readonly string[]) => sql.raw(values.map((v) => `'${v}'`).join(', '));

const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});

const tz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  firstSeenAt: tz('first_seen_at').notNull().defaultNow(),
  lastSeenAt: tz('last_seen_at').notNull().defaultNow(),
  banned: boolean('banned').notNull().default(false),
  banReason: text('ban_reason'),
  bannedAt: tz('banned_at'),
  bannedBy: text('banned_by'),
});

/**
 * A user's quota everywhere: one row per user who ever reserved. `custom_limit` null means
 * "the default" (the run-time default in `settings`, else DEFAULT_QUOTA). Periods are aligned
 * to multiples of `period_seconds` since the Unix epoch (a day resets at 00:00 UTC); the reset
 * is lazy. A server's own limit for the user is in `guild_quotas`, checked too.
 */
export const quotas = pgTable(
  'quotas',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id),
    customLimit: integer('custom_limit'),
    periodSeconds: integer('period_seconds').notNull().default(86_400),
    used: integer('used').notNull().default(0),
    /** Extra images granted by an admin for the current period only. */
    bonus: integer('bonus').notNull().default(0),
    periodStart: tz('period_start').notNull(),
    resetsAt: tz('resets_at').notNull(),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('quotas_used_nonnegative', sql`${t.used} >= 0`),
    check('quotas_bonus_nonnegative', sql`${t.bonus} >= 0`),
    check('quotas_custom_limit_nonnegative', sql`${t.customLimit} >= 0`),
    check('quotas_period_positive', sql`${t.periodSeconds} > 0`),
  ],
);

/** Every change to a quota. For the current period: used = sum(used_delta), bonus = sum(bonus_delta). */
export const quotaLedger = pgTable(
  'quota_ledger',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind').$type<LedgerKind>().notNull(),
    usedDelta: integer('used_delta').notNull().default(0),
    bonusDelta: integer('bonus_delta').notNull().default(0),
    /** The quota period this entry counts in (quotas.period_start when it was written). */
    periodStart: tz('period_start').notNull(),
    /** The server a charge or refund counts in too (its guild_quotas row); null in DMs and for admin entries. */
    guildId: text('guild_id'),
    jobId: text('job_id').references(() => jobs.id),
    actorId: text('actor_id'),
    reason: text('reason').notNull(),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('quota_ledger_kind', sql`${t.kind} in (${sqlList(LEDGER_KINDS)})`),
    index('quota_ledger_user_period').on(t.userId, t.periodStart),
    // At most one charge and one refund per job: a second refund credits nothing.
    uniqueIndex('quota_ledger_one_charge_per_job')
      .on(t.jobId)
      .where(sql`${t.kind} = 'charge'`),
    uniqueIndex('quota_ledger_one_refund_per_job')
      .on(t.jobId)
      .where(sql`${t.kind} = 'refund'`),
  ],
);

export const jobs = pgTable(
  'jobs',
  {
    /** Short sortable id (see ids.ts); also the BullMQ job id and what users type in /rerun. */
    id: text('id').primaryKey(),
    /** Unique: a redelivered interaction finds the existing job instead of creating one. */
    interactionId: text('interaction_id').notNull().unique('jobs_interaction_id_unique'),
    /** Secret (webhook token for 15 minutes): never log it. Cleared (null) once expired. */
    interactionToken: text('interaction_token'),
    interactionTokenExpiresAt: tz('interaction_token_expires_at').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    guildId: text('guild_id'),
    channelId: text('channel_id').notNull(),
    messageId: text('message_id'),
    kind: text('kind').$type<JobKind>().notNull(),
    /** The job whose button or command made this one (lineage), and which of its images. */
    parentJobId: text('parent_job_id').references((): AnyPgColumn => jobs.id),
    parentIndex: integer('parent_index'),
    /** img2img: the job and image this one starts from (with `strength`); null for text-to-image. */
    initJobId: text('init_job_id').references((): AnyPgColumn => jobs.id),
    initIndex: integer('init_index'),
    /** img2img from a picture the user gave (/imagine image:); instead of init_job_id. */
    initInputId: text('init_input_id').references((): AnyPgColumn => inputImages.id),
    /** An edit of the init image (the contract's Edit: region, zoom, pan, upscale); null for plain img2img or txt2img. */
    edit: jsonb('edit').$type<Edit>(),

    prompt: text('prompt').notNull(),
    negativePrompt: text('negative_prompt').notNull().default(''),
    model: text('model').notNull(),
    /** Known once a worker has loaded the model; set by completeJob. */
    modelHash: text('model_hash'),
    sampler: text('sampler').$type<SamplerName>().notNull(),
    steps: integer('steps').notNull(),
    guidance: doublePrecision('guidance').notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    count: integer('count').notNull(),
    /** img2img strength for variations; null for txt2img. */
    strength: doublePrecision('strength'),
    /** Seed of image 0; image i uses seed + i (mod 2^32). */
    seed: bigint('seed', { mode: 'number' }).notNull(),
    rng: text('rng').$type<RngName>().notNull(),

    status: text('status').$type<JobStatus>().notNull().default('queued'),
    error: text('error'),
    cost: integer('cost').notNull(),
    priority: integer('priority').notNull().default(1),
    workerId: text('worker_id'),
    attempts: integer('attempts').notNull().default(0),
    cancelledBy: text('cancelled_by'),
    createdAt: tz('created_at').notNull().defaultNow(),
    startedAt: tz('started_at'),
    finishedAt: tz('finished_at'),
    timings: jsonb('timings').$type<Record<string, number>>(),
    deliveredAt: tz('delivered_at'),
    deliveryError: text('delivery_error'),
  },
  (t) => [
    check('jobs_status', sql`${t.status} in (${sqlList(JOB_STATUSES)})`),
    check('jobs_kind', sql`${t.kind} in (${sqlList(JOB_KINDS)})`),
    check('jobs_rng', sql`${t.rng} in (${sqlList(RNG_NAMES)})`),
    check('jobs_sampler', sql`${t.sampler} in (${sqlList(SAMPLERS)})`),
    check('jobs_count', sql`${t.count} between ${sql.raw(String(LIMITS.count.min))} and ${sql.raw(String(LIMITS.count.max))}`),
    check('jobs_steps', sql`${t.steps} between ${sql.raw(String(LIMITS.steps.min))} and ${sql.raw(String(LIMITS.steps.max))}`),
    check('jobs_guidance', sql`${t.guidance} between ${sql.raw(String(LIMITS.guidance.min))} and ${sql.raw(String(LIMITS.guidance.max))}`),
    check('jobs_width', sql`${t.width} between ${sql.raw(String(LIMITS.side.min))} and ${sql.raw(String(LIMITS.side.max))}`),
    check('jobs_height', sql`${t.height} between ${sql.raw(String(LIMITS.side.min))} and ${sql.raw(String(LIMITS.side.max))}`),
    check(
      'jobs_strength',
      sql`${t.strength} > ${sql.raw(String(LIMITS.strength.min))} and ${t.strength} <= ${sql.raw(String(LIMITS.strength.max))}`,
    ),
    check('jobs_parent_index', sql`${t.parentIndex} between 0 and ${sql.raw(String(LIMITS.count.max - 1))}`),
    check('jobs_init_index', sql`${t.initIndex} between 0 and ${sql.raw(String(LIMITS.count.max - 1))}`),
    check('jobs_edit_needs_init', sql`${t.edit} is null or ${t.initJobId} is not null or ${t.initInputId} is not null`),
    check(
      'jobs_init_complete',
      sql`(${t.initJobId} is null) = (${t.initIndex} is null) and (${t.initJobId} is null or ${t.initInputId} is null) and (${t.initJobId} is null and ${t.initInputId} is null) = (${t.strength} is null)`,
    ),
    check('jobs_prompt_length', sql`char_length(${t.prompt}) <= ${sql.raw(String(LIMITS.promptChars))}`),
    check('jobs_negative_prompt_length', sql`char_length(${t.negativePrompt}) <= ${sql.raw(String(LIMITS.promptChars))}`),
    check('jobs_cost_nonnegative', sql`${t.cost} >= 0`),
    check('jobs_seed_range', sql`${t.seed} between ${sql.raw(String(LIMITS.seed.min))} and ${sql.raw(String(LIMITS.seed.max))}`),
    index('jobs_user_created').on(t.userId, t.createdAt),
    index('jobs_user_active')
      .on(t.userId)
      .where(sql`${t.status} in ('queued', 'running')`),
    index('jobs_queued_model_created')
      .on(t.model, t.createdAt)
      .where(sql`${t.status} = 'queued'`),
  ],
);

export const images = pgTable(
  'images',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    index: integer('index').notNull(),
    seed: bigint('seed', { mode: 'number' }).notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    /** Lowercase hex SHA-256 of the PNG: kept when the bytes expire, so a regenerated image can be proven identical. */
    sha256: text('sha256').notNull(),
    /** Null once expired (RETENTION_DAYS); regenerated on demand from the job's parameters. */
    png: bytea('png'),
    createdAt: tz('created_at').notNull().defaultNow(),
    /** When the bytes were last written (first generation or a restore); retention counts from here. */
    storedAt: tz('stored_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'images_pkey', columns: [t.jobId, t.index] })],
);

/**
 * Pictures users gave to start from (/imagine image:), normalised to PNG; under the same
 * retention as results (png null once expired: a user's own picture cannot be made again).
 */
export const inputImages = pgTable('input_images', {
  id: text('id').primaryKey(),
  userId: text('user_id')
    .notNull()
    .references(() => users.id),
  width: integer('width').notNull(),
  height: integer('height').notNull(),
  sha256: text('sha256').notNull(),
  png: bytea('png'),
  storedAt: tz('stored_at').notNull().defaultNow(),
});

/**
 * The animated WebP of a job's denoising (its progress previews, a bounded number of
 * frames), stored by the worker with the result; the Replay button posts it.
 */
export const replays = pgTable('replays', {
  jobId: text('job_id')
    .primaryKey()
    .references(() => jobs.id, { onDelete: 'cascade' }),
  webp: bytea('webp').notNull(),
  frames: integer('frames').notNull(),
  width: integer('width').notNull(),
  height: integer('height').notNull(),
  createdAt: tz('created_at').notNull().defaultNow(),
});

/** Run-time settings that survive restarts (e.g. key 'default_quota' -> number). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: tz('updated_at').notNull().defaultNow(),
  updatedBy: text('updated_by'),
});

export const guildSettings = pgTable(
  'guild_settings',
  {
    guildId: text('guild_id').primaryKey(),
    /** Images per day for users of this guild without a custom limit; null: the global default. */
    defaultQuota: integer('default_quota'),
    /** Empty: every channel is allowed. */
    allowedChannelIds: text('allowed_channel_ids')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    bannedWords: text('banned_words')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    updatedAt: tz('updated_at').notNull().defaultNow(),
    updatedBy: text('updated_by'),
  },
  (t) => [check('guild_settings_default_quota_nonnegative', sql`${t.defaultQuota} >= 0`)],
);

/**
 * A user's own defaults (/prefer): remix, and the /imagine options they did not type. Explicit
 * options and inline parameters win over them; they never override an admin's limits (the
 * job contract and the quotas apply to the job as always).
 */
export const userPreferences = pgTable(
  'user_preferences',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id),
    remix: boolean('remix').notNull().default(false),
    aspect: text('aspect'),
    sampler: text('sampler').$type<SamplerName>(),
    steps: integer('steps'),
    count: integer('count'),
    model: text('model'),
    /** Appended to every prompt of the user (Midjourney's /prefer suffix); may hold inline parameters. */
    suffix: text('suffix').notNull().default(''),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('user_preferences_sampler', sql`${t.sampler} in (${sqlList(SAMPLERS)})`),
    check('user_preferences_steps', sql`${t.steps} between ${sql.raw(String(LIMITS.steps.min))} and ${sql.raw(String(LIMITS.steps.max))}`),
    check('user_preferences_count', sql`${t.count} between ${sql.raw(String(LIMITS.count.min))} and ${sql.raw(String(LIMITS.count.max))}`),
    check('user_preferences_suffix_length', sql`char_length(${t.suffix}) <= ${sql.raw(String(LIMITS.promptChars))}`),
  ],
);

/** Users a server's admins banned: they cannot use the bot in that server (a global ban is `users.banned`). */
export const guildBans = pgTable(
  'guild_bans',
  {
    guildId: text('guild_id').notNull(),
    userId: text('user_id').notNull(),
    reason: text('reason').notNull().default(''),
    bannedBy: text('banned_by').notNull(),
    bannedAt: tz('banned_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'guild_bans_pkey', columns: [t.guildId, t.userId] })],
);

/**
 * A user's quota inside one server, checked with the global one in the same reservation:
 * `custom_limit` (a server admin's per-user setting) else the server's default_quota else no
 * server limit. Same lazy daily periods as `quotas`.
 */
export const guildQuotas = pgTable(
  'guild_quotas',
  {
    guildId: text('guild_id').notNull(),
    userId: text('user_id').notNull(),
    customLimit: integer('custom_limit'),
    used: integer('used').notNull().default(0),
    periodStart: tz('period_start').notNull(),
    resetsAt: tz('resets_at').notNull(),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'guild_quotas_pkey', columns: [t.guildId, t.userId] }),
    check('guild_quotas_used_nonnegative', sql`${t.used} >= 0`),
    check('guild_quotas_custom_limit_nonnegative', sql`${t.customLimit} >= 0`),
  ],
);

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    actorId: text('actor_id').notNull(),
    action: text('action').notNull(),
    targetId: text('target_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('audit_log_created').on(t.createdAt),
    index('audit_log_target').on(t.targetId, t.createdAt),
    // Repeated refusals of the same actor are audited once per window (audit.ts).
    index('audit_log_actor_action').on(t.actorId, t.action, t.createdAt),
  ],
);

export type UserRow = typeof users.$inferSelect;
export type QuotaRow = typeof quotas.$inferSelect;
export type LedgerRow = typeof quotaLedger.$inferSelect;
export type JobRow = typeof jobs.$inferSelect;
export type ImageRow = typeof images.$inferSelect;
export type ReplayRow = typeof replays.$inferSelect;
export type InputImageRow = typeof inputImages.$inferSelect;
export type GuildSettingsRow = typeof guildSettings.$inferSelect;
export type GuildBanRow = typeof guildBans.$inferSelect;
export type PreferencesRow = typeof userPreferences.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
