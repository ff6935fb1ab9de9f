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
//   completeJob(db, jobId, NewImage[], { modelHash?, timings?, fence? }?): Promise<{ didComplete, status }>
//   failJob(db, jobId, error, fence?): Promise<{ didFail, refund: RefundResult | null }>
//   runFence(job, workerId): RunFence { attempt, workerId }   a run's fencing token: claimJob's attempts and the worker
//   runState(db, jobId, fence): Promise<'current' | 'cancelled' | 'superseded'>   one read: may this run still edit?
//   cancelJob(db, jobId, byUserId): Promise<{ previousStatus: JobStatus | null, cancelled }>
//   markDelivered(db, jobId, messageId?): Promise<boolean>   true the first time only (delivered_at is set once)
//   setDeliveryError(db, jobId, error), setMessageId(db, jobId, messageId): Promise<void>
//   getJob(db, jobId): Promise<Job | null>
//   listImages(db, jobId): Promise<StoredImage[]>;  getImage(db, jobId, index): Promise<StoredImage | null>   png null once expired
//   shownImages(db, job): a job's images, or a U1-U4 job's selected image of its parent;  restoreImage(db, jobId, index, png): Promise<boolean>   same SHA-256 only
//   listUserJobs(db, userId, limit): Promise<Job[]>  (newest first);  countActiveJobs(db, userId): Promise<number>
//   queuePosition(db, job): Promise<number>   queued jobs of the same model created before it
//   rebuildRequest(db, jobId, { index?, seed? }?): Promise<JobParams | null>;  jobParams(job): JobParams
//
// Reconciler (src/worker/reconciler.ts)
//   listJobsWithStatus(db, 'queued' | 'running'): Promise<Job[]>   oldest first, at most RECONCILE_BATCH
//   listUndelivered(db, { minAgeMs, maxAgeMs }): succeeded jobs with no delivered_at, finished in that window
//   jobStatuses(db, jobIds): Promise<Map<id, JobStatus>>;  requeueJob(db, jobId, workerId): running -> queued, attempts kept
//
// Replays (animated WebP of a job's denoising, one per job)
//   storeReplay(db, jobId, { webp, frames, width, height }): Promise<boolean>   idempotent: the first one stays; true when this call stored it
//   getReplay(db, jobId): Promise<StoredReplay | null>                           { jobId, webp, frames, width, height, createdAt }
//
// Input pictures (/imagine image:)
//   storeInputImage(db, { userId, png, width, height }): Promise<string>;  getInputImage(db, id): Promise<InputImage | null>   png null once expired
//
// Retention
//   expireStoredData(db, { retentionDays, now }): Promise<RetentionReport>   image bytes and replays older than that dropped, expired tokens cleared
//   claimPeriodicRun(db, task, { now, periodMs, workerId }): Promise<boolean>   true for one caller per period (the day's cleanup)
//
// Quotas everywhere (limit: custom > run-time default > DEFAULT_QUOTA) and per server (the server's limit for the user >
// its default_quota > none); per day, reset lazily at 00:00 UTC
//   getQuota(db, userId, { defaultLimit }): Promise<QuotaStatus>   { limit, customLimit, bonus, used, remaining, periodSeconds, resetsAt }
//   getServerQuota(db, guildId, userId): Promise<ServerQuotaStatus>   { limit | null, customLimit, used, remaining | null, resetsAt }
//   setServerLimit(db, { guildId, userId, limit: number | null, actorId, reason })   a server admin's per-user limit; audited
//   listServerLimits(db, guildId): { userId, limit }[]   the per-user limits a server set (for /settings show)
//   reserveQuota(db, { userId, cost, jobId, reason, guildId, defaultLimit }): { ok, quota, server } | { ok: false, level: 'global' | 'server', ... }
//   refundJob(db, jobId, reason): Promise<{ credited, alreadyRefunded }>    idempotent; nothing after a reset or the period's end
//   jobRefund(db, jobId): Promise<{ charged, credited }>   what the ledger says, for the failed/cancelled message
//   setLimit(db, { userId, limit: number | null, periodSeconds?, actorId, reason })
//   grant(db, { userId, amount, actorId, reason })       extra images for the current period only
//   resetQuota(db, { userId, actorId, reason })          used -> 0 for the current period
//   setDefaultLimit(db, { limit, actorId, reason });  getDefaultLimit(db, configDefault): Promise<number>
//   ledgerTotals(db, userId): Promise<{ used, bonus }>   the ledger's sums for the current period
//
// Preferences (/prefer)
//   getPreferences(db, userId): Promise<Preferences>   { remix, aspect, sampler, steps, count, model, suffix }
//   setPreferences(db, userId, changes): Promise<Preferences>;  resetPreferences(db, userId)
//
// Users, guilds, audit
//   ensureUser(db, userId): Promise<UserRow> (seen now);  ensureUserExists(db, userId);  getUser(db, userId): Promise<UserRow | null>;  isBanned(db, userId): Promise<boolean>
//   banUser(db, { userId, actorId, reason }), unbanUser(db, { userId, actorId, reason }): Promise<void>   audited, everywhere
//   getGuildBan(db, guildId, userId);  banInGuild(db, { guildId, userId, actorId, reason });  unbanInGuild(db, { guildId, userId, actorId }): Promise<boolean>   one server
//   getGuildSettings(db, guildId): Promise<GuildSettings>   { defaultQuota, allowedChannelIds, bannedWords }
//   setGuildSettings(db, { guildId, actorId, changes }): Promise<GuildSettings>                       audited
//   editGuildSettings(db, { guildId, actorId }, edit: (current) => { changes | null, ... }): the edit's result   one editor per guild at a time
//   audit(db, { actorId, action, targetId, details? }): Promise<void>;  auditOnce(db, entry, windowMs): at most one row per actor, action and command a window;  listAudit(db, { limit, targetId? }): Promise<AuditRow[]>
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
  runFence,
  runState,
  completeJob,
  failJob,
  cancelJob,
  markDelivered,
  setDeliveryError,
  setMessageId,
  getJob,
  listImages,
  getImage,
  shownImages,
  restoreImage,
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
  type RunFence,
  type RunState,
} from './jobs.js';
export { listJobsWithStatus, listUndelivered, jobStatuses, requeueJob, RECONCILE_BATCH } from './reconcile.js';
export { storeReplay, getReplay, type StoredReplay, type NewReplay } from './replays.js';
export { storeInputImage, getInputImage, type InputImage } from './inputs.js';
export { expireStoredData, claimPeriodicRun, type RetentionReport } from './retention.js';
export {
  getQuota,
  reserveQuota,
  getServerQuota,
  setServerLimit,
  listServerLimits,
  refundJob,
  jobRefund,
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
  type ServerQuotaStatus,
  type ReserveInput,
  type ReserveResult,
  type RefundResult,
  type JobRefund,
  type AdminAction,
} from './quota.js';
export {
  ensureUser,
  ensureUserExists,
  getUser,
  isBanned,
  banUser,
  unbanUser,
  getGuildBan,
  listGuildBans,
  banInGuild,
  unbanInGuild,
} from './users.js';
export { getPreferences, setPreferences, resetPreferences, NO_PREFERENCES, type Preferences } from './preferences.js';
export { getGuildSettings, setGuildSettings, editGuildSettings, type GuildSettings, type GuildSettingsChanges } from './guilds.js';
export { audit, auditOnce, listAudit, type AuditEntry } from './audit.js';
export { JOB_STATUSES, FINAL_STATUSES, type JobStatus, type UserRow, type AuditRow } from './schema.js';
