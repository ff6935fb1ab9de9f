// Quotas: images per period per user, charged atomically and refunded at most once.
//
// The effective limit of a user is, first match wins: quotas.custom_limit (set by an admin),
// guild_settings.default_quota of the guild the request comes from, the run-time default
// in settings ('default_quota', set with setDefaultLimit), DEFAULT_QUOTA from the config
// (passed in as `defaultLimit`). An admin grant adds `bonus` images for the current period.
//
// Periods are aligned to multiples of period_seconds since the Unix epoch (a day starts at
// 00:00 UTC) and reset lazily: the first statement that touches a quota whose resets_at has
// passed starts the new period. now() is the transaction's start time, so one transaction
// sees one consistent period.
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.js';
import { audit } from './audit.js';
import { ensureUserExists } from './users.js';

export const DEFAULT_PERIOD_SECONDS = 86_400;
/** The largest limit, default or grant (images per period) anyone may set. */
export const MAX_QUOTA_AMOUNT = 1_000_000;
const DEFAULT_QUOTA_KEY = 'default_quota';

export interface QuotaStatus {
  userId: string;
  /** Base limit (custom or default) plus bonus. */
  limit: number;
  /** The admin-set limit, or null when the default applies. */
  customLimit: number | null;
  bonus: number;
  used: number;
  remaining: number;
  periodSeconds: number;
  resetsAt: Date;
}

export interface QuotaContext {
  /** The guild the request comes from (its default quota applies); null in DMs. */
  guildId: string | null;
  /** DEFAULT_QUOTA from the config: used when no run-time default has been set. */
  defaultLimit: number;
}

export type ReserveResult =
  | { ok: true; quota: QuotaStatus }
  | { ok: false; quota: QuotaStatus };

// --- SQL fragments over a row aliased `q` of quotas -------------------------------------

const due = sql`q.resets_at <= now()`;
const periodStartNow = (seconds: SQL) =>
  sql`to_timestamp(floor(extract(epoch from now()) / ${seconds}) * ${seconds})`;
const currentPeriodStart = periodStartNow(sql`q.period_seconds`);
const currentResetsAt = sql`(${currentPeriodStart} + q.period_seconds * interval '1 second')`;

/** The default limit for users without a custom one, as one scalar expression. */
function defaultLimitSql(ctx: QuotaContext): SQL {
  return sql`coalesce(
    (select g.default_quota from guild_settings g where g.guild_id = ${ctx.guildId}),
    (select (s.value #>> '{}')::int from settings s where s.key = ${DEFAULT_QUOTA_KEY}),
    ${ctx.defaultLimit}::int)`;
}

interface QuotaSqlRow extends Record<string, unknown> {
  user_id: string;
  custom_limit: number | null;
  base_limit: number;
  bonus: number;
  used: number;
  period_seconds: number;
  resets_at: string | Date;
}

function toStatus(row: QuotaSqlRow): QuotaStatus {
  const limit = row.base_limit + row.bonus;
  return {
    userId: row.user_id,
    limit,
    customLimit: row.custom_limit,
    bonus: row.bonus,
    used: row.used,
    remaining: Math.max(0, limit - row.used),
    periodSeconds: row.period_seconds,
    resetsAt: new Date(row.resets_at),
  };
}

/** Creates the user's quota row (current period, default limit) if it does not exist. */
async function ensureQuotaRow(db: Db, userId: string): Promise<void> {
  const start = periodStartNow(sql`${DEFAULT_PERIOD_SECONDS}::int`);
  await db.execute(sql`
    insert into quotas (user_id, period_start, resets_at)
    values (${userId}, ${start}, ${start} + ${DEFAULT_PERIOD_SECONDS}::int * interval '1 second')
    on conflict (user_id) do nothing`);
}

/** The quota as it stands now (a due period reads as already reset); null without a row. */
async function readQuota(db: Db, userId: string, ctx: QuotaContext): Promise<QuotaStatus | null> {
  const rows = await db.execute<QuotaSqlRow>(sql`
    select q.user_id, q.custom_limit, q.period_seconds,
      coalesce(q.custom_limit, ${defaultLimitSql(ctx)}) as base_limit,
      case when ${due} then 0 else q.bonus end as bonus,
      case when ${due} then 0 else q.used end as used,
      case when ${due} then ${currentResetsAt} else q.resets_at end as resets_at
    from quotas q where q.user_id = ${userId}`);
  return rows.length === 0 ? null : toStatus(rows[0]);
}

/** The user's quota now; users who never reserved get the default and a fresh period. */
export async function getQuota(db: Db, userId: string, ctx: QuotaContext): Promise<QuotaStatus> {
  const quota = await readQuota(db, userId, ctx);
  if (quota) return quota;
  const rows = await db.execute<QuotaSqlRow>(sql`
    select ${userId}::text as user_id, null::int as custom_limit, ${DEFAULT_PERIOD_SECONDS}::int as period_seconds,
      ${defaultLimitSql(ctx)} as base_limit, 0 as bonus, 0 as used,
      ${periodStartNow(sql`${DEFAULT_PERIOD_SECONDS}::int`)} + ${DEFAULT_PERIOD_SECONDS}::int * interval '1 second' as resets_at`);
  return toStatus(rows[0]);
}

export interface ReserveInput extends QuotaContext {
  userId: string;
  cost: number;
  /** The job this charge pays for (at most one charge per job). */
  jobId: string | null;
  reason: string;
}

/**
 * Charges `cost` images if they fit in the user's remaining quota. The check, the lazy period
 * reset and the charge are ONE conditional UPDATE (concurrent callers cannot overspend); its
 * ledger entry is written by the same statement. Creates the user and quota rows if needed.
 */
export async function reserveQuota(db: Db, input: ReserveInput): Promise<ReserveResult> {
  if (!Number.isInteger(input.cost) || input.cost < 0) throw new RangeError(`reserveQuota: cost must be a whole number >= 0, got ${input.cost}`);
  await ensureUserExists(db, input.userId);
  await ensureQuotaRow(db, input.userId);
  const rows = await db.execute<QuotaSqlRow>(sql`
    with lim as (select ${defaultLimitSql(input)} as default_limit),
    charged as (
      update quotas q set
        used = case when ${due} then ${input.cost}::int else q.used + ${input.cost}::int end,
        bonus = case when ${due} then 0 else q.bonus end,
        period_start = case when ${due} then ${currentPeriodStart} else q.period_start end,
        resets_at = case when ${due} then ${currentResetsAt} else q.resets_at end,
        updated_at = now()
      from lim
      where q.user_id = ${input.userId}
        and (case when ${due} then 0 else q.used end) + ${input.cost}::int
            <= coalesce(q.custom_limit, lim.default_limit) + (case when ${due} then 0 else q.bonus end)
      returning q.user_id, q.custom_limit, q.period_seconds, q.bonus, q.used, q.period_start, q.resets_at,
        coalesce(q.custom_limit, lim.default_limit) as base_limit
    ),
    ledger as (
      insert into quota_ledger (user_id, kind, used_delta, period_start, job_id, reason)
      select user_id, 'charge', ${input.cost}::int, period_start, ${input.jobId}, ${input.reason} from charged
    )
    select * from charged`);
  if (rows.length > 0) return { ok: true, quota: toStatus(rows[0]) };
  const quota = await readQuota(db, input.userId, input);
  if (!quota) throw new Error(`reserveQuota: quota row for user ${input.userId} vanished`);
  return { ok: false, quota };
}

export interface RefundResult {
  /** Images given back by this call (0 when already refunded, never charged, or charged in an earlier period). */
  credited: number;
  /** True when an earlier call already refunded this job. */
  alreadyRefunded: boolean;
}

/**
 * Gives back what a job was charged, once: the refund's ledger entry is unique per job, so a
 * second (or concurrent) call credits nothing. A charge from an earlier period is not credited
 * against the new one (the refund is recorded with 0).
 */
export async function refundJob(db: Db, jobId: string, reason: string): Promise<RefundResult> {
  return db.transaction(async (tx) => {
    const charges = await tx.execute<{ user_id: string; used_delta: number; period_start: string }>(sql`
      select user_id, used_delta, period_start from quota_ledger where job_id = ${jobId} and kind = 'charge'`);
    if (charges.length === 0) {
      const refunded = await tx.execute(sql`select 1 from quota_ledger where job_id = ${jobId} and kind = 'refund'`);
      return { credited: 0, alreadyRefunded: refunded.length > 0 };
    }
    const charge = charges[0];
    // Lock the quota row: concurrent refunds of this user's jobs queue here.
    const [quota] = await tx.execute<{ used: number; is_due: boolean; same_period: boolean; period_start: string }>(sql`
      select q.used, ${due} as is_due, q.period_start = ${charge.period_start}::timestamptz as same_period, q.period_start
      from quotas q where q.user_id = ${charge.user_id} for update`);
    const credit = !quota.is_due && quota.same_period ? Math.min(charge.used_delta, quota.used) : 0;
    const inserted = await tx.execute(sql`
      insert into quota_ledger (user_id, kind, used_delta, period_start, job_id, reason)
      values (${charge.user_id}, 'refund', ${-credit}::int, ${quota.period_start}::timestamptz, ${jobId}, ${reason})
      on conflict (job_id) where kind = 'refund' do nothing
      returning id`);
    if (inserted.length === 0) return { credited: 0, alreadyRefunded: true };
    if (credit > 0) {
      await tx.execute(sql`update quotas set used = used - ${credit}::int, updated_at = now() where user_id = ${charge.user_id}`);
    }
    return { credited: credit, alreadyRefunded: false };
  });
}

// --- Admin operations: each writes the ledger (per user) and the audit log -------------------

export interface AdminAction {
  /** The admin's Discord user id. */
  actorId: string;
  reason: string;
}

/** Starts the new period if due, then locks and returns the user's quota row for this transaction. */
async function lockCurrentPeriod(tx: Db, userId: string): Promise<{ used: number; periodStart: string }> {
  await ensureUserExists(tx, userId);
  await ensureQuotaRow(tx, userId);
  await tx.execute(sql`
    update quotas q set used = 0, bonus = 0, period_start = ${currentPeriodStart}, resets_at = ${currentResetsAt}, updated_at = now()
    where q.user_id = ${userId} and ${due}`);
  const [row] = await tx.execute<{ used: number; period_start: string }>(sql`
    select used, period_start from quotas where user_id = ${userId} for update`);
  return { used: row.used, periodStart: row.period_start };
}

async function writeLedger(
  tx: Db,
  entry: { userId: string; kind: 'grant' | 'reset' | 'limit'; usedDelta: number; bonusDelta: number; periodStart: string } & AdminAction,
): Promise<void> {
  await tx.execute(sql`
    insert into quota_ledger (user_id, kind, used_delta, bonus_delta, period_start, actor_id, reason)
    values (${entry.userId}, ${entry.kind}, ${entry.usedDelta}::int, ${entry.bonusDelta}::int, ${entry.periodStart}::timestamptz,
      ${entry.actorId}, ${entry.reason})`);
}

function assertCount(what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min || n > MAX_QUOTA_AMOUNT) throw new RangeError(`${what} must be a whole number between ${min} and ${MAX_QUOTA_AMOUNT}, got ${n}`);
}

/**
 * Sets a user's own limit (null: back to the default). A new period length takes effect at the
 * next reset; the current period keeps its end.
 */
export async function setLimit(
  db: Db,
  input: AdminAction & { userId: string; limit: number | null; periodSeconds?: number },
): Promise<void> {
  if (input.limit !== null) assertCount('limit', input.limit, 0);
  if (input.periodSeconds !== undefined) assertCount('periodSeconds', input.periodSeconds, 60);
  await db.transaction(async (tx) => {
    const { periodStart } = await lockCurrentPeriod(tx, input.userId);
    await tx.execute(sql`
      update quotas set custom_limit = ${input.limit}::int,
        period_seconds = coalesce(${input.periodSeconds ?? null}::int, period_seconds), updated_at = now()
      where user_id = ${input.userId}`);
    const what = input.limit === null ? 'default limit' : `limit ${input.limit}`;
    const per = input.periodSeconds === undefined ? '' : ` per ${input.periodSeconds}s`;
    await writeLedger(tx, { ...input, kind: 'limit', usedDelta: 0, bonusDelta: 0, periodStart, reason: `${what}${per}: ${input.reason}` });
    await audit(tx, {
      actorId: input.actorId,
      action: 'quota.set_limit',
      targetId: input.userId,
      details: { limit: input.limit, periodSeconds: input.periodSeconds ?? null, reason: input.reason },
    });
  });
}

/** Adds `amount` extra images to the user's current period only (they expire at the reset). */
export async function grant(db: Db, input: AdminAction & { userId: string; amount: number }): Promise<void> {
  assertCount('amount', input.amount, 1);
  await db.transaction(async (tx) => {
    const { periodStart } = await lockCurrentPeriod(tx, input.userId);
    await tx.execute(sql`update quotas set bonus = bonus + ${input.amount}::int, updated_at = now() where user_id = ${input.userId}`);
    await writeLedger(tx, { ...input, kind: 'grant', usedDelta: 0, bonusDelta: input.amount, periodStart });
    await audit(tx, { actorId: input.actorId, action: 'quota.grant', targetId: input.userId, details: { amount: input.amount, reason: input.reason } });
  });
}

/** Sets the user's used count for the current period back to 0. */
export async function resetQuota(db: Db, input: AdminAction & { userId: string }): Promise<void> {
  await db.transaction(async (tx) => {
    const { used, periodStart } = await lockCurrentPeriod(tx, input.userId);
    await tx.execute(sql`update quotas set used = 0, updated_at = now() where user_id = ${input.userId}`);
    await writeLedger(tx, { ...input, kind: 'reset', usedDelta: -used, bonusDelta: 0, periodStart });
    await audit(tx, { actorId: input.actorId, action: 'quota.reset', targetId: input.userId, details: { used, reason: input.reason } });
  });
}

/** Changes the default limit of users without their own, for all guilds without one; survives restarts. */
export async function setDefaultLimit(db: Db, input: AdminAction & { limit: number }): Promise<void> {
  assertCount('limit', input.limit, 0);
  await db.transaction(async (tx) => {
    await tx.execute(sql`
      insert into settings (key, value, updated_by) values (${DEFAULT_QUOTA_KEY}, to_jsonb(${input.limit}::int), ${input.actorId})
      on conflict (key) do update set value = excluded.value, updated_by = excluded.updated_by, updated_at = now()`);
    await audit(tx, { actorId: input.actorId, action: 'quota.set_default', targetId: null, details: { limit: input.limit, reason: input.reason } });
  });
}

/** The run-time default limit, or `configDefault` (DEFAULT_QUOTA) when none has been set. */
export async function getDefaultLimit(db: Db, configDefault: number): Promise<number> {
  const rows = await db.execute<{ limit: number }>(sql`
    select (value #>> '{}')::int as limit from settings where key = ${DEFAULT_QUOTA_KEY}`);
  return rows.length === 0 ? configDefault : rows[0].limit;
}

/** Sum of the ledger for the user's current period: must equal quotas.used and quotas.bonus. */
export async function ledgerTotals(db: Db, userId: string): Promise<{ used: number; bonus: number }> {
  const [row] = await db.execute<{ used: number; bonus: number }>(sql`
    select coalesce(sum(l.used_delta), 0)::int as used, coalesce(sum(l.bonus_delta), 0)::int as bonus
    from quota_ledger l join quotas q on q.user_id = l.user_id and l.period_start = q.period_start
    where l.user_id = ${userId}`);
  return row;
}
