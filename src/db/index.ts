// Postgres: the single source of truth for users, quotas, jobs and images.
//
// Public surface (every function that queries takes `db` first; `db` may also be a transaction):
//
// Connection and migrations
//   createDb(databaseUrl, { max?: 10, logger? }): { sql, db, close(): Promise<void> }
//   runMigrations(databaseUrl, folder?): Promise<string[]>            tags applied; safe to re-run
//   assertMigrationsCurrent(sql, folder?): Promise<void>              throws MigrationsBehindError ("run `npm run db:migrate`")
//
// Jobs (statuses queued | running | succeeded | failed | cancelled; kinds: JOB_KINDS of src/contract)
//   createJobWithReservation(db, NewJobInput): Promise<CreateJobResult>
//       NewJobInput: { interactionId, interactionToken, interactionTokenExpiresAt? (15 min), userId, guildId, channelId,
//         kind, params: JobParams (src/contract; validated by the caller, the CHECKs enforce the same limits),
//         parent?: { jobId, index }, cost? (= count; 0 skips the quota), maxActiveJobs, defaultLimit }
//       { ok: true, job } | { ok: false, reason: 'quota', remaining, limit, resetsAt }
//       | { ok: false, reason: 'banned', banReason } | { ok: false, reason: 'duplicate', job }
//       | { ok: false, reason: 'too_many_jobs', active, max }
//   claimJob(db, jobId, workerId): Promise<Job | null>                 null: cancelled / finished / unknown, skip it
//   completeJob(db, jobId, NewImage[], { modelHash?, timings? }?): Promise<{ didComplete, status }>
//   failJob(db, jobId, error): Promise<{ didFail, refund: RefundResult | null }>
//   cancelJob(db, jobId, byUserId): Promise<{ previousStatus: JobStatus | null, cancelled }>
//   markDelivered(db, jobId, messageId?), setDeliveryError(db, jobId, error), setMessageId(db, jobId, messageId): Promise<void>
//   getJob(db, jobId): Promise<Job | null>
//   listImages(db, jobId): Promise<StoredImage[]>;  getImage(db, jobId, index): Promise<StoredImage | null>
//   listUserJobs(db, userId, limit): Promise<Job[]>  (newest first);  countActiveJobs(db, userId): Promise<number>
//   queuePosition(db, job): Promise<number>   queued jobs of the same model created before it
//   rebuildRequest(db, jobId, { index?, seed? }?): Promise<JobParams | null>;  jobParams(job): JobParams
//
// Replays (animated WebP of a job's denoising, one per job)
//   storeReplay(db, jobId, { webp, frames, width, height }): Promise<boolean>   idempotent: the first one stays; true when this call stored it
//   getReplay(db, jobId): Promise<StoredReplay | null>                           { jobId, webp, frames, width, height, createdAt }
//
// Quotas (limit: custom > guild default > run-time default > DEFAULT_QUOTA; per day, reset lazily at 00:00 UTC)
//   getQuota(db, userId, { guildId, defaultLimit }): Promise<QuotaStatus>   { limit, customLimit, bonus, used, remaining, periodSeconds, resetsAt }
//   reserveQuota(db, { userId, cost, jobId, reason, guildId, defaultLimit }): Promise<{ ok, quota }>
//   refundJob(db, jobId, reason): Promise<{ credited, alreadyRefunded }>    idempotent
//   setLimit(db, { userId, limit: number | null, periodSeconds?, actorId, reason })
//   grant(db, { userId, amount, actorId, reason })       extra images for the current period only
//   resetQuota(db, { userId, actorId, reason })          used -> 0 for the current period
//   setDefaultLimit(db, { limit, actorId, reason });  getDefaultLimit(db, configDefault): Promise<number>
//   ledgerTotals(db, userId): Promise<{ used, bonus }>   the ledger's sums for the current period
//
// Users, guilds, audit
//   ensureUser(db, userId): Promise<UserRow> (seen now);  ensureUserExists(db, userId);  getUser(db, userId): Promise<UserRow | null>;  isBanned(db, userId): Promise<boolean>
//   banUser(db, { userId, actorId, reason }), unbanUser(db, { userId, actorId, reason }): Promise<void>   audited
//   getGuildSettings(db, guildId): Promise<GuildSettings>   { defaultQuota, allowedChannelIds, bannedWords }
//   setGuildSettings(db, { guildId, actorId, changes }): Promise<GuildSettings>                       audited
//   editGuildSettings(db, { guildId, actorId }, edit: (current) => { changes | null, ... }): the edit's result   one editor per guild at a time
//   audit(db, { actorId, action, targetId, details? }): Promise<void>;  listAudit(db, { limit, targetId? }): Promise<AuditRow[]>
//
// Errors: MigrationsBehindError, JobNotFoundError (completeJob on an unknown id), ImageIndexError (an image index >= count
// in completeJob or rebuildRequest).
// Note: drizzle makes the postgres.js client return timestamps as strings from raw `sql` queries;
// the typed functions here return Date objects.
export { createDb, type Db, type DbHandle, type CreateDbOptions } from './client.js';
export { runMigrations, assertMigrationsCurrent, MigrationsBehindError, MIGRATIONS_FOLDER } from './migrate.js';
export {
  createJobWithReservation,
  claimJob,
  completeJob,
  failJob,
  cancelJob,
  markDelivered,
  setDeliveryError,
  setMessageId,
  getJob,
  listImages,
  getImage,
  listUserJobs,
  countActiveJobs,
  queuePosition,
  rebuildRequest,
  jobParams,
  JobNotFoundError,
  ImageIndexError,
  type Job,
  type StoredImage,
  type NewImage,
  type NewJobInput,
  type CreateJobResult,
  type CompleteResult,
} from './jobs.js';
export { storeReplay, getReplay, type StoredReplay, type NewReplay } from './replays.js';
export {
  getQuota,
  reserveQuota,
  refundJob,
  setLimit,
  grant,
  resetQuota,
  setDefaultLimit,
  getDefaultLimit,
  ledgerTotals,
  DEFAULT_PERIOD_SECONDS,
  MAX_QUOTA_AMOUNT,
  type QuotaStatus,
  type QuotaContext,
  type ReserveInput,
  type ReserveResult,
  type RefundResult,
  type AdminAction,
} from './quota.js';
export { ensureUser, ensureUserExists, getUser, isBanned, banUser, unbanUser } from './users.js';
export { getGuildSettings, setGuildSettings, editGuildSettings, type GuildSettings, type GuildSettingsChanges } from './guilds.js';
export { audit, listAudit, type AuditEntry } from './audit.js';
export { JOB_STATUSES, FINAL_STATUSES, type JobStatus, type UserRow, type AuditRow } from './schema.js';
