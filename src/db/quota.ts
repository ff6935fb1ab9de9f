// Quotas: images per period per user, charged atomically and refunded at most once, at two
// levels checked in the same reservation:
// - everywhere (`quotas`): quotas.custom_limit (set by a bot owner), else the run-time default
//   in settings ('default_quota', set with setDefaultLimit), else DEFAULT_QUOTA from the config
//   (passed in as `defaultLimit`). A bot owner's grant adds `bonus` images for the current period.
// - inside a server (`guild_quotas`, for requests from a server): the server admins' limit for
//   the user, else the server's default_quota, else no server limit. Usage is counted there too.
//
// Periods are aligned to multiples of period_seconds since the Unix epoch (a day starts at
// 00:00 UTC) and reset lazily: the first statement that touches a quota whose resets_at has
// passed starts the new period. now() is the transaction's start time, so one transaction
// sees one consistent period.
import { sql, type SQL } from 'drizzle-orm';
import { onlyRow, type Db } from './client.js';
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
  /** The guild the request comes from (its own limits apply too); null in DMs. */
  guildId: string | null;
  /** DEFAULT_QUOTA from the config: used when no run-time default has been set. */
  defaultLimit: number;
}

/** A user's quota inside one server. */
export interface ServerQuotaStatus {
  guildId: string;
  userId: string;
  /** The server's limit for the user (its admins' setting, else the server default); null: none. */
  limit: number | null;
  /** The server admins' own setting for this user, or null. */
  customLimit: number | null;
  used: number;
  /** Null when the server sets no limit. */
  remaining: number | null;
  resetsAt: Date;
}

export type ReserveResult =
  | { ok: true; quota: QuotaStatus; server: ServerQuotaStatus | null }
  /** `level` says which quota refused: everywhere, or this server's. */
  | { ok: false; level: 'global' | 'server'; quota: QuotaStatus; server: ServerQuotaStatus | null };

// --- SQL fragments over a row aliased `q` of quotas -------------------------------------

const due = sql`q.resets_at <= now()`;
const periodStartNow = (seconds: SQL) => sql`to_timestamp(floor(extract(epoch from now()) / ${seconds}) * ${seconds})`;
const currentPeriodStart = periodStartNow(sql`q.period_seconds`);
const currentResetsAt = sql`(${currentPeriodStart} + q.period_seconds * interval '1 second')`;

/** The default limit everywhere for users without a custom one, as one scalar expression. */
function defaultLimitSql(defaultLimit: number): SQL {
  return sql`coalesce(
    (select (s.value #>> '{}')::int from settings s where s.key = ${DEFAULT_QUOTA_KEY}),
    ${defaultLimit}::int)`;
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

/** The row of a query that always returns one (an aggregate, a row made or locked just before); throws otherwise. */
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
async function readQuota(db: Db, userId: string, defaultLimit: number): Promise<QuotaStatus | null> {
  const rows = await db.execute<QuotaSqlRow>(sql`
    select q.user_id, q.custom_limit, q.period_seconds,
      coalesce(q.custom_limit, ${defaultLimitSql(defaultLimit)}) as base_limit,
      case when ${due} then 0 else q.bonus end as bonus,
      case when ${due} then 0 else q.used end as used,
      case when ${due} then ${currentResetsAt} else q.resets_at end as resets_at
    from quotas q where q.user_id = ${userId}`);
  const [row] = rows;
  return row === undefined ? null : toStatus(row);
}

/** The user's quota everywhere now; users who never reserved get the default and a fresh period. */
export async function getQuota(db: Db, userId: string, ctx: { defaultLimit: number }): Promise<QuotaStatus> {
  const quota = await readQuota(db, userId, ctx.defaultLimit);
  if (quota) return quota;
  const rows = await db.execute<QuotaSqlRow>(sql`
    select ${userId}::text as user_id, null::int as custom_limit, ${DEFAULT_PERIOD_SECONDS}::int as period_seconds,
      ${defaultLimitSql(ctx.defaultLimit)} as base_limit, 0 as bonus, 0 as used,
      ${periodStartNow(sql`${DEFAULT_PERIOD_SECONDS}::int`)} + ${DEFAULT_PERIOD_SECONDS}::int * interval '1 second' as resets_at`);
  return toStatus(onlyRow(rows, 'getQuota'));
}

export interface ReserveInput extends QuotaContext {
  userId: string;
  cost: number;
  /** The job this charge pays for (at most one charge per job). */
  jobId: string | null;
  reason: string;
}

// --- The server level: a row aliased `g` of guild_quotas --------------------------------

const gDue = sql`g.resets_at <= now()`;
const dayStart = periodStartNow(sql`${DEFAULT_PERIOD_SECONDS}::int`);
const dayEnd = sql`(${dayStart} + ${DEFAULT_PERIOD_SECONDS}::int * interval '1 second')`;
const serverLimitSql = (guildId: string) =>
  sql`coalesce(g.custom_limit, (select s.default_quota from guild_settings s where s.guild_id = ${guildId}))`;

interface ServerQuotaSqlRow extends Record<string, unknown> {
  custom_limit: number | null;
  server_limit: number | null;
  used: number;
  resets_at: string | Date;
}

function toServerStatus(guildId: string, userId: string, row: ServerQuotaSqlRow): ServerQuotaStatus {
  const limit = row.server_limit;
  return {
    guildId,
    userId,
    limit,
    customLimit: row.custom_limit,
    used: row.used,
    remaining: limit === null ? null : Math.max(0, limit - row.used),
    resetsAt: new Date(row.resets_at),
  };
}

async function ensureServerQuotaRow(db: Db, guildId: string, userId: string): Promise<void> {
  await db.execute(sql`
    insert into guild_quotas (guild_id, user_id, period_start, resets_at) values (${guildId}, ${userId}, ${dayStart}, ${dayEnd})
    on conflict (guild_id, user_id) do nothing`);
}

/** The user's quota inside a server now (a due period reads as reset; no row yet: nothing used). */
export async function getServerQuota(db: Db, guildId: string, userId: string): Promise<ServerQuotaStatus> {
  const rows = await db.execute<ServerQuotaSqlRow>(sql`
    select g.custom_limit, coalesce(g.custom_limit, s.default_quota) as server_limit,
      case when g.user_id is null or ${gDue} then 0 else g.used end as used,
      case when g.user_id is null or ${gDue} then ${dayEnd} else g.resets_at end as resets_at
    from (select 1) as one
    left join guild_quotas g on g.guild_id = ${guildId} and g.user_id = ${userId}
    left join guild_settings s on s.guild_id = ${guildId}`);
  return toServerStatus(guildId, userId, onlyRow(rows, 'getServerQuota'));
}

/** The users a server's admins gave a limit of their own there, by user id. */
export async function listServerLimits(db: Db, guildId: string): Promise<{ userId: string; limit: number }[]> {
  const rows = await db.execute<{ user_id: string; custom_limit: number }>(
    sql`select user_id, custom_limit from guild_quotas where guild_id = ${guildId} and custom_limit is not null order by user_id`,
  );
  return rows.map((row) => ({ userId: row.user_id, limit: row.custom_limit }));
}

/** Sets (or with null clears) a server's own daily limit for one user; audited. */
export async function setServerLimit(
  db: Db,
  input: AdminAction & { guildId: string; userId: string; limit: number | null },
): Promise<void> {
  if (input.limit !== null) assertCount('limit', input.limit, 0);
  await db.transaction(async (tx) => {
    await ensureServerQuotaRow(tx, input.guildId, input.userId);
    await tx.execute(
      sql`update guild_quotas set custom_limit = ${input.limit}::int, updated_at = now() where guild_id = ${input.guildId} and user_id = ${input.userId}`,
    );
    await audit(tx, {
      actorId: input.actorId,
      action: 'guild.user_limit',
      targetId: input.userId,
      details: { guildId: input.guildId, limit: input.limit, reason: input.reason },
    });
  });
}

/** Thrown inside the reservation's transaction to roll the global charge back. */
class ServerQuotaRefusal extends Error {
  constructor(readonly server: ServerQuotaStatus) {
    super('server quota refused');
  }
}

/**
 * Charges `cost` images if they fit in the user's remaining quota everywhere and, for a
 * request from a server, in that server. Each level is ONE conditional UPDATE (check, lazy
 * period reset and charge; concurrent callers cannot overspend) and the charge's ledger entry
 * is written by the global one; both run in one transaction, so a refusal at the server level
 * takes the global charge back. Creates the user and quota rows if needed.
 */
export async function reserveQuota(db: Db, input: ReserveInput): Promise<ReserveResult> {
  if (!Number.isInteger(input.cost) || input.cost < 0)
    throw new RangeError(`reserveQuota: cost must be a whole number >= 0, got ${input.cost}`);
  try {
    return await db.transaction(async (tx): Promise<ReserveResult> => {
      const quota = await reserveEverywhere(tx, input);
      const guildId = input.guildId;
      if (quota === null) {
        const current = await readQuota(tx, input.userId, input.defaultLimit);
        if (!current) throw new Error(`reserveQuota: quota row for user ${input.userId} vanished`);
        return {
          ok: false,
          level: 'global',
          quota: current,
          server: guildId === null ? null : await getServerQuota(tx, guildId, input.userId),
        };
      }
      if (guildId === null) return { ok: true, quota, server: null };
      const server = await reserveInServer(tx, guildId, input);
      if (server === null) throw new ServerQuotaRefusal(await getServerQuota(tx, guildId, input.userId));
      return { ok: true, quota, server };
    });
  } catch (error) {
    if (!(error instanceof ServerQuotaRefusal)) throw error;
    return { ok: false, level: 'server', quota: await getQuota(db, input.userId, input), server: error.server };
  }
}

/** The global level's conditional UPDATE and its ledger entry; null when the charge does not fit. */
async function reserveEverywhere(tx: Db, input: ReserveInput): Promise<QuotaStatus | null> {
  await ensureUserExists(tx, input.userId);
  await ensureQuotaRow(tx, input.userId);
  const rows = await tx.execute<QuotaSqlRow>(sql`
    with lim as (select ${defaultLimitSql(input.defaultLimit)} as default_limit),
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
      insert into quota_ledger (user_id, kind, used_delta, period_start, guild_id, job_id, reason)
      select user_id, 'charge', ${input.cost}::int, period_start, ${input.guildId}, ${input.jobId}, ${input.reason} from charged
    )
    select * from charged`);
  return rows[0] === undefined ? null : toStatus(rows[0]);
}

/** The server level's conditional UPDATE; null when the charge does not fit the server's limit. */
async function reserveInServer(tx: Db, guildId: string, input: ReserveInput): Promise<ServerQuotaStatus | null> {
  await ensureServerQuotaRow(tx, guildId, input.userId);
  const rows = await tx.execute<ServerQuotaSqlRow>(sql`
    update guild_quotas g set
      used = case when ${gDue} then ${input.cost}::int else g.used + ${input.cost}::int end,
      period_start = case when ${gDue} then ${dayStart} else g.period_start end,
      resets_at = case when ${gDue} then ${dayEnd} else g.resets_at end,
      updated_at = now()
    where g.guild_id = ${guildId} and g.user_id = ${input.userId}
      and (${serverLimitSql(guildId)} is null
        or (case when ${gDue} then 0 else g.used end) + ${input.cost}::int <= ${serverLimitSql(guildId)})
    returning g.custom_limit, ${serverLimitSql(guildId)} as server_limit, g.used, g.resets_at`);
  return rows[0] === undefined ? null : toServerStatus(guildId, input.userId, rows[0]);
}

export interface RefundResult {
  /** Images given back by this call (0 when already refunded, never charged, charged in an earlier period or before a reset). */
  credited: number;
  /** True when an earlier call already refunded this job. */
  alreadyRefunded: boolean;
}

/**
 * Gives back what a job was charged, once: the refund's ledger entry is unique per job, so a
 * second (or concurrent) call credits nothing. A charge from an earlier period, or one made
 * before a bot owner reset the usage, is not credited (the refund is recorded with 0): the
 * usage it counted in is gone already. A charge that counted in a server is given back there too.
 */
export async function refundJob(db: Db, jobId: string, reason: string): Promise<RefundResult> {
  return db.transaction(async (tx) => {
    const charges = await tx.execute<{
      id: number;
      user_id: string;
      used_delta: number;
      period_start: string;
      guild_id: string | null;
      created_at: string;
    }>(sql`
      select id, user_id, used_delta, period_start, guild_id, created_at from quota_ledger where job_id = ${jobId} and kind = 'charge'`);
    const charge = charges[0];
    if (charge === undefined) {
      const refunded = await tx.execute(sql`select 1 from quota_ledger where job_id = ${jobId} and kind = 'refund'`);
      return { credited: 0, alreadyRefunded: refunded.length > 0 };
    }
    // Lock the quota row: concurrent refunds of this user's jobs queue here.
    const [quota] = await tx.execute<{
      used: number;
      is_due: boolean;
      same_period: boolean;
      reset_since: boolean;
      period_start: string;
    }>(sql`
      select q.used, ${due} as is_due, q.period_start = ${charge.period_start}::timestamptz as same_period, q.period_start,
        exists (select 1 from quota_ledger r where r.user_id = q.user_id and r.kind = 'reset' and r.id > ${charge.id}) as reset_since
      from quotas q where q.user_id = ${charge.user_id} for update`);
    if (quota === undefined) throw new Error(`refundJob: no quota row for user ${charge.user_id}`);
    const credit = !quota.is_due && quota.same_period && !quota.reset_since ? Math.min(charge.used_delta, quota.used) : 0;
    const inserted = await tx.execute(sql`
      insert into quota_ledger (user_id, kind, used_delta, period_start, guild_id, job_id, reason)
      values (${charge.user_id}, 'refund', ${-credit}::int, ${quota.period_start}::timestamptz, ${charge.guild_id}, ${jobId}, ${reason})
      on conflict (job_id) where kind = 'refund' do nothing
      returning id`);
    if (inserted.length === 0) return { credited: 0, alreadyRefunded: true };
    if (credit > 0) {
      await tx.execute(sql`update quotas set used = used - ${credit}::int, updated_at = now() where user_id = ${charge.user_id}`);
    }
    if (charge.guild_id !== null) {
      // The server's day the charge counted in must still be the current one.
      await tx.execute(sql`
        update guild_quotas g set used = greatest(0, g.used - ${charge.used_delta}::int), updated_at = now()
        where g.guild_id = ${charge.guild_id} and g.user_id = ${charge.user_id}
          and not ${gDue} and g.period_start <= ${charge.created_at}::timestamptz`);
    }
    return { credited: credit, alreadyRefunded: false };
  });
}

/** What a job was charged and what its refund gave back (both 0 when it cost nothing). */
export interface JobRefund {
  charged: number;
  credited: number;
}

/** The job's charge and refund, from the ledger. */
export async function jobRefund(db: Db, jobId: string): Promise<JobRefund> {
  const [row] = await db.execute<{ charged: number; credited: number }>(sql`
    select coalesce(sum(case when kind = 'charge' then used_delta end), 0)::int as charged,
      coalesce(-sum(case when kind = 'refund' then used_delta end), 0)::int as credited
    from quota_ledger where job_id = ${jobId}`);
  return row ?? { charged: 0, credited: 0 };
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
  const rows = await tx.execute<{ used: number; period_start: string }>(sql`
    select used, period_start from quotas where user_id = ${userId} for update`);
  const row = onlyRow(rows, 'lockCurrentPeriod');
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
  if (!Number.isInteger(n) || n < min || n > MAX_QUOTA_AMOUNT)
    throw new RangeError(`${what} must be a whole number between ${min} and ${MAX_QUOTA_AMOUNT}, got ${n}`);
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
    await audit(tx, {
      actorId: input.actorId,
      action: 'quota.grant',
      targetId: input.userId,
      details: { amount: input.amount, reason: input.reason },
    });
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
    await audit(tx, {
      actorId: input.actorId,
      action: 'quota.set_default',
      targetId: null,
      details: { limit: input.limit, reason: input.reason },
    });
  });
}

/** The run-time default limit, or `configDefault` (DEFAULT_QUOTA) when none has been set. */
export async function getDefaultLimit(db: Db, configDefault: number): Promise<number> {
  const rows = await db.execute<{ limit: number }>(sql`
    select (value #>> '{}')::int as limit from settings where key = ${DEFAULT_QUOTA_KEY}`);
  const [row] = rows;
  return row === undefined ? configDefault : row.limit;
}

/** Sum of the ledger for the user's current period: must equal quotas.used and quotas.bonus. */
export async function ledgerTotals(db: Db, userId: string): Promise<{ used: number; bonus: number }> {
  const rows = await db.execute<{ used: number; bonus: number }>(sql`
    select coalesce(sum(l.used_delta), 0)::int as used, coalesce(sum(l.bonus_delta), 0)::int as bonus
    from quota_ledger l join quotas q on q.user_id = l.user_id and l.period_start = q.period_start
    where l.user_id = ${userId}`);
  return onlyRow(rows, 'ledgerTotals');
}
