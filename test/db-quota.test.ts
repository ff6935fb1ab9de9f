// Quotas on a real Postgres: atomic reservations under concurrency, lazy period reset,
// idempotent refunds, admin operations with ledger and audit, a backend killed mid-transaction.
import postgres from 'postgres';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelJob,
  createJobWithReservation,
  failJob,
  getQuota,
  grant,
  ledgerTotals,
  listAudit,
  refundJob,
  reserveQuota,
  resetQuota,
  setDefaultLimit,
  setGuildSettings,
  setLimit,
  getDefaultLimit,
  getServerQuota,
  setServerLimit,
  jobRefund,
} from '../src/db/index.js';
import { at } from '../src/checked.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';
import { sampleJobInput, sampleParams, snowflake } from './support/db-fixtures.js';

const ADMIN = '900000000000000001';
const ctx = { guildId: null, defaultLimit: 50 };

let pg: TestDatabase;

beforeAll(async () => {
  pg = await createTestDatabase('db_quota', { max: 12 });
});

afterAll(async () => {
  await pg?.drop();
});

/** The row of a query that returns one (a count, a row the test made); throws when it returned none. */
function onlyRow<T>(rows: readonly T[]): T {
  const [row] = rows;
  if (row === undefined) throw new Error('the query returned no row');
  return row;
}

async function quotaRow(userId: string) {
  return onlyRow(
    await pg.sql<{ used: number; bonus: number; period_start: string; resets_at: string }[]>`
    select used, bonus, period_start, resets_at from quotas where user_id = ${userId}`,
  );
}

describe('reserveQuota', () => {
  it('lets exactly the remaining 10 of 50 concurrent reservations through', async () => {
    const user = snowflake();
    await setLimit(pg.db, { userId: user, limit: 15, actorId: ADMIN, reason: 'test' });
    expect((await reserveQuota(pg.db, { ...ctx, userId: user, cost: 5, jobId: null, reason: 'warm-up' })).ok).toBe(true);

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => reserveQuota(pg.db, { ...ctx, userId: user, cost: 1, jobId: null, reason: `r${i}` })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    const refused = results.filter((r) => !r.ok);
    expect(refused).toHaveLength(40);
    expect(at(refused, 0).quota.remaining).toBe(0);
    expect((await quotaRow(user)).used).toBe(15);
    expect(await ledgerTotals(pg.db, user)).toEqual({ used: 15, bonus: 0 });
    const { charges } = onlyRow(
      await pg.sql<{ charges: number }[]>`
      select count(*)::int as charges from quota_ledger where user_id = ${user} and kind = 'charge'`,
    );
    expect(charges).toBe(11);
  });

  it('creates exactly as many jobs as fit when 50 requests race through createJobWithReservation', async () => {
    const user = snowflake();
    await setLimit(pg.db, { userId: user, limit: 10, actorId: ADMIN, reason: 'test' });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => createJobWithReservation(pg.db, sampleJobInput(user, { params: sampleParams({ count: 1 }) }))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(results.filter((r) => !r.ok && r.reason === 'quota')).toHaveLength(40);
    const { jobs } = onlyRow(await pg.sql<{ jobs: number }[]>`select count(*)::int as jobs from jobs where user_id = ${user}`);
    expect(jobs).toBe(10);
    expect((await quotaRow(user)).used).toBe(10);
    expect(await ledgerTotals(pg.db, user)).toEqual({ used: 10, bonus: 0 });
  });

  it('refuses with the remaining count and the reset time, charging nothing', async () => {
    const user = snowflake();
    await setLimit(pg.db, { userId: user, limit: 6, actorId: ADMIN, reason: 'test' });
    expect((await createJobWithReservation(pg.db, sampleJobInput(user))).ok).toBe(true);
    const refused = await createJobWithReservation(pg.db, sampleJobInput(user));
    expect(refused).toMatchObject({ ok: false, reason: 'quota', remaining: 2, limit: 6 });
    if (refused.ok || refused.reason !== 'quota') throw new Error('expected a quota refusal');
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    expect(refused.resetsAt.getTime()).toBe(midnight.getTime());
    const { jobs } = onlyRow(await pg.sql<{ jobs: number }[]>`select count(*)::int as jobs from jobs where user_id = ${user}`);
    expect(jobs).toBe(1);
    expect((await getQuota(pg.db, user, ctx)).used).toBe(4);
  });

  it('starts a new period lazily when resets_at has passed', async () => {
    const user = snowflake();
    await setLimit(pg.db, { userId: user, limit: 4, actorId: ADMIN, reason: 'test' });
    await grant(pg.db, { userId: user, amount: 2, actorId: ADMIN, reason: 'contest winner' });
    expect((await reserveQuota(pg.db, { ...ctx, userId: user, cost: 6, jobId: null, reason: 'all of it' })).ok).toBe(true);
    expect((await reserveQuota(pg.db, { ...ctx, userId: user, cost: 1, jobId: null, reason: 'one more' })).ok).toBe(false);

    // Move the period two days back, as if the user came back later.
    await pg.sql`update quotas set period_start = period_start - interval '2 days', resets_at = resets_at - interval '2 days' where user_id = ${user}`;
    await pg.sql`update quota_ledger set period_start = period_start - interval '2 days' where user_id = ${user}`;
    const before = await getQuota(pg.db, user, ctx);
    expect(before).toMatchObject({ used: 0, bonus: 0, limit: 4, remaining: 4 });
    expect((await quotaRow(user)).used).toBe(6); // getQuota only reads

    const reserved = await reserveQuota(pg.db, { ...ctx, userId: user, cost: 3, jobId: null, reason: 'new day' });
    expect(reserved).toMatchObject({ ok: true, quota: { used: 3, bonus: 0, limit: 4, remaining: 1 } });
    const row = await quotaRow(user);
    expect(row.used).toBe(3);
    expect(new Date(row.resets_at).getTime()).toBeGreaterThan(Date.now());
    expect(new Date(row.period_start).getTime()).toBeLessThanOrEqual(Date.now());
    expect(await ledgerTotals(pg.db, user)).toEqual({ used: 3, bonus: 0 });
  });

  it('everywhere: a custom limit, else the run-time default, else DEFAULT_QUOTA; a server default never raises or lowers it', async () => {
    const user = snowflake();
    const guildId = snowflake();
    expect((await getQuota(pg.db, user, { defaultLimit: 7 })).limit).toBe(7);
    expect(await getDefaultLimit(pg.db, 7)).toBe(7);

    await setDefaultLimit(pg.db, { limit: 20, actorId: ADMIN, reason: 'busy week' });
    expect((await getQuota(pg.db, user, { defaultLimit: 7 })).limit).toBe(20);
    expect(await getDefaultLimit(pg.db, 7)).toBe(20);

    await setGuildSettings(pg.db, { guildId, actorId: ADMIN, changes: { defaultQuota: 100 } });
    expect((await getQuota(pg.db, user, { defaultLimit: 7 })).limit).toBe(20);

    await setLimit(pg.db, { userId: user, limit: 100, actorId: ADMIN, reason: 'patron' });
    expect((await getQuota(pg.db, user, { defaultLimit: 7 })).limit).toBe(100);
    await setLimit(pg.db, { userId: user, limit: null, actorId: ADMIN, reason: 'back to normal' });
    expect((await getQuota(pg.db, user, { defaultLimit: 7 })).customLimit).toBeNull();
    await setDefaultLimit(pg.db, { limit: 50, actorId: ADMIN, reason: 'restore' });
  });

  it('in a server: its limit for the user, else its default, else none; checked with the global one, usage counted at both levels', async () => {
    const user = snowflake();
    const guildId = snowflake();
    const reserve = (cost: number, where: string | null) =>
      reserveQuota(pg.db, { userId: user, guildId: where, defaultLimit: 100, cost, jobId: null, reason: 'x' });
    expect(await getServerQuota(pg.db, guildId, user)).toMatchObject({ limit: null, used: 0, remaining: null });
    expect((await reserve(5, guildId)).ok).toBe(true);

    await setGuildSettings(pg.db, { guildId, actorId: ADMIN, changes: { defaultQuota: 7 } });
    expect(await getServerQuota(pg.db, guildId, user)).toMatchObject({ limit: 7, used: 5, remaining: 2 });
    const refused = await reserve(3, guildId);
    expect(refused).toMatchObject({ ok: false, level: 'server', server: { limit: 7, used: 5, remaining: 2 }, quota: { used: 5 } });
    // Refused at the server level: nothing charged anywhere.
    expect((await quotaRow(user)).used).toBe(5);
    expect(await ledgerTotals(pg.db, user)).toEqual({ used: 5, bonus: 0 });
    // The same user elsewhere (a DM, another server) only meets the global limit.
    expect((await reserve(3, null)).ok).toBe(true);
    expect((await reserve(3, snowflake())).ok).toBe(true);
    expect(await getServerQuota(pg.db, guildId, user)).toMatchObject({ used: 5 });

    await setServerLimit(pg.db, { guildId, userId: user, limit: 10, actorId: ADMIN, reason: 'helper' });
    expect(await getServerQuota(pg.db, guildId, user)).toMatchObject({ limit: 10, customLimit: 10, remaining: 5 });
    expect((await reserve(5, guildId)).ok).toBe(true);
    expect((await reserve(1, guildId)).ok).toBe(false);
    expect((await listAudit(pg.db, { limit: 5, targetId: user })).map((a) => a.action)).toContain('guild.user_limit');
  });

  it('a server limit of 2 stops a user at 2 even when the global limit is 100, also under concurrency', async () => {
    const user = snowflake();
    const guildId = snowflake();
    await setLimit(pg.db, { userId: user, limit: 100, actorId: ADMIN, reason: 'test' });
    await setGuildSettings(pg.db, { guildId, actorId: ADMIN, changes: { defaultQuota: 2 } });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => reserveQuota(pg.db, { userId: user, guildId, defaultLimit: 50, cost: 1, jobId: null, reason: 'x' })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(results.filter((r) => !r.ok && r.level === 'server')).toHaveLength(8);
    expect((await quotaRow(user)).used).toBe(2);
    expect(await getServerQuota(pg.db, guildId, user)).toMatchObject({ used: 2, remaining: 0 });
  });
});

describe('admin operations', () => {
  it('grant, reset and setLimit write the ledger and the audit log', async () => {
    const user = snowflake();
    await setLimit(pg.db, { userId: user, limit: 5, actorId: ADMIN, reason: 'trial' });
    expect((await reserveQuota(pg.db, { ...ctx, userId: user, cost: 5, jobId: null, reason: 'x' })).ok).toBe(true);
    await grant(pg.db, { userId: user, amount: 3, actorId: ADMIN, reason: 'bug bounty' });
    expect(await getQuota(pg.db, user, ctx)).toMatchObject({ limit: 8, bonus: 3, used: 5, remaining: 3 });
    await resetQuota(pg.db, { userId: user, actorId: ADMIN, reason: 'fresh start' });
    expect(await getQuota(pg.db, user, ctx)).toMatchObject({ used: 0, remaining: 8 });
    expect(await ledgerTotals(pg.db, user)).toEqual({ used: 0, bonus: 3 });

    const kinds = await pg.sql<{ kind: string; actor_id: string | null }[]>`
      select kind, actor_id from quota_ledger where user_id = ${user} order by id`;
    expect(kinds.map((k) => k.kind)).toEqual(['limit', 'charge', 'grant', 'reset']);
    const actions = (await listAudit(pg.db, { limit: 10, targetId: user })).map((a) => a.action);
    expect(actions).toEqual(['quota.reset', 'quota.grant', 'quota.set_limit']);
  });

  it('rejects invalid amounts with a clear message', async () => {
    await expect(grant(pg.db, { userId: snowflake(), amount: 0, actorId: ADMIN, reason: 'x' })).rejects.toThrow(
      'amount must be a whole number between 1 and 1000000, got 0',
    );
    await expect(setDefaultLimit(pg.db, { limit: -1, actorId: ADMIN, reason: 'x' })).rejects.toThrow(RangeError);
  });
});

describe('refunds', () => {
  it('credits once when the same refund runs twice concurrently', async () => {
    const user = snowflake();
    const created = await createJobWithReservation(pg.db, sampleJobInput(user));
    if (!created.ok) throw new Error(`job refused: ${created.reason}`);
    expect((await quotaRow(user)).used).toBe(4);

    const [a, b] = await Promise.all([refundJob(pg.db, created.job.id, 'failed'), refundJob(pg.db, created.job.id, 'failed')]);
    expect(a.credited + b.credited).toBe(4);
    expect([a.alreadyRefunded, b.alreadyRefunded].sort()).toEqual([false, true]);
    expect((await quotaRow(user)).used).toBe(0);
    expect(await refundJob(pg.db, created.job.id, 'again')).toEqual({ credited: 0, alreadyRefunded: true });
    expect(await ledgerTotals(pg.db, user)).toEqual({ used: 0, bonus: 0 });
  });

  it('refunds once when a failure and a cancellation race', async () => {
    const user = snowflake();
    const created = await createJobWithReservation(pg.db, sampleJobInput(user, { params: sampleParams({ count: 2 }) }));
    if (!created.ok) throw new Error(`job refused: ${created.reason}`);
    const [failed, cancelled] = await Promise.all([
      failJob(pg.db, created.job.id, 'out of memory'),
      cancelJob(pg.db, created.job.id, user),
    ]);
    expect(Number(failed.didFail) + Number(cancelled.cancelled)).toBe(1);
    expect((await quotaRow(user)).used).toBe(0);
    const { refunds } = onlyRow(
      await pg.sql<{ refunds: number }[]>`
      select count(*)::int as refunds from quota_ledger where job_id = ${created.job.id} and kind = 'refund'`,
    );
    expect(refunds).toBe(1);
  });

  it('does not credit a charge from an earlier period against the new one', async () => {
    const user = snowflake();
    const created = await createJobWithReservation(pg.db, sampleJobInput(user));
    if (!created.ok) throw new Error(`job refused: ${created.reason}`);
    await pg.sql`update quotas set resets_at = now() - interval '1 second' where user_id = ${user}`;
    expect(await failJob(pg.db, created.job.id, 'late failure')).toMatchObject({ didFail: true, refund: { credited: 0 } });
    expect((await getQuota(pg.db, user, ctx)).used).toBe(0);
    // The message will say nothing came back: the ledger says so.
    expect(await jobRefund(pg.db, created.job.id)).toEqual({ charged: 4, credited: 0 });
  });

  it('does not credit a charge made before a bot owner reset the usage (it would refund a later job)', async () => {
    const user = snowflake();
    const old = await createJobWithReservation(pg.db, sampleJobInput(user));
    if (!old.ok) throw new Error(`job refused: ${old.reason}`);
    await resetQuota(pg.db, { userId: user, actorId: ADMIN, reason: 'fresh start' });
    const later = await createJobWithReservation(pg.db, sampleJobInput(user, { params: sampleParams({ count: 2 }) }));
    if (!later.ok) throw new Error(`job refused: ${later.reason}`);
    expect((await getQuota(pg.db, user, ctx)).used).toBe(2);
    expect(await failJob(pg.db, old.job.id, 'late failure')).toMatchObject({ didFail: true, refund: { credited: 0 } });
    expect((await getQuota(pg.db, user, ctx)).used).toBe(2);
    expect(await jobRefund(pg.db, old.job.id)).toEqual({ charged: 4, credited: 0 });
    expect(await failJob(pg.db, later.job.id, 'failure')).toMatchObject({ refund: { credited: 2 } });
    expect(await jobRefund(pg.db, later.job.id)).toEqual({ charged: 2, credited: 2 });
  });

  it('gives a refund back in the server the charge counted in too', async () => {
    const user = snowflake();
    const guildId = snowflake();
    await setGuildSettings(pg.db, { guildId, actorId: ADMIN, changes: { defaultQuota: 4 } });
    const created = await createJobWithReservation(pg.db, sampleJobInput(user, { guildId }));
    if (!created.ok) throw new Error(`job refused: ${created.reason}`);
    expect(await getServerQuota(pg.db, guildId, user)).toMatchObject({ used: 4, remaining: 0 });
    await cancelJob(pg.db, created.job.id, user);
    expect(await getServerQuota(pg.db, guildId, user)).toMatchObject({ used: 0, remaining: 4 });
  });
});

describe('a backend killed in the middle of a reserve transaction', () => {
  it('charges nothing, and the pool serves the next calls', async () => {
    const user = snowflake();
    const killer = postgres(pg.url, { max: 1, onnotice: () => {} });
    try {
      let reportPid!: (pid: number) => void;
      const pidKnown = new Promise<number>((resolve) => (reportPid = resolve));
      let resume!: () => void;
      const killed = new Promise<void>((resolve) => (resume = resolve));

      const transaction = pg.db.transaction(async (tx) => {
        const reserved = await reserveQuota(tx, { ...ctx, userId: user, cost: 3, jobId: null, reason: 'doomed' });
        expect(reserved.ok).toBe(true);
        const { pid } = onlyRow(await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`));
        reportPid(pid);
        await killed;
        await tx.execute(sql`select 1`);
      });
      const outcome = transaction.then(
        () => 'committed',
        (err: unknown) => err,
      );

      const pid = await pidKnown;
      const { terminated } = onlyRow(await killer<{ terminated: boolean }[]>`select pg_terminate_backend(${pid}) as terminated`);
      expect(terminated).toBe(true);
      resume();
      const result = await outcome;
      expect(result).toBeInstanceOf(Error);

      const [row] = await killer<{ used: number }[]>`select used from quotas where user_id = ${user}`;
      expect(row?.used ?? 0).toBe(0);
      const { charges } = onlyRow(
        await killer<{ charges: number }[]>`
        select count(*)::int as charges from quota_ledger where user_id = ${user}`,
      );
      expect(charges).toBe(0);

      // Kill every other connection of the pool too, idle ones included.
      await killer`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
      await new Promise((r) => setTimeout(r, 200));
      const after = await Promise.all(
        Array.from({ length: 5 }, () => createJobWithReservation(pg.db, sampleJobInput(user, { params: sampleParams({ count: 1 }) }))),
      );
      expect(after.every((r) => r.ok)).toBe(true);
      expect((await getQuota(pg.db, user, ctx)).used).toBe(5);
    } finally {
      await killer.end();
    }
  });

  // Unpatched postgres.js 3.4.9 dies here within a few rounds (an uncaught TypeError from
  // its write timer) or leaves a pool slot hanging; see scripts/patch-postgres.mjs.
  it('leaves the process and the pool working, round after round', async () => {
    const killer = postgres(pg.url, { max: 1, onnotice: () => {} });
    try {
      for (let round = 0; round < 10; round++) {
        let reportPid!: (pid: number) => void;
        const pidKnown = new Promise<number>((resolve) => (reportPid = resolve));
        let resume!: () => void;
        const killed = new Promise<void>((resolve) => (resume = resolve));
        const outcome = pg.db
          .transaction(async (tx) => {
            const { pid } = onlyRow(await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`));
            reportPid(pid);
            await killed;
            await tx.execute(sql`select 1`);
          })
          .then(
            () => 'committed',
            (err: unknown) => err,
          );
        await killer`select pg_terminate_backend(${await pidKnown})`;
        resume();
        expect(await outcome).toBeInstanceOf(Error);
        await new Promise((r) => setTimeout(r, 20));
        const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => pg.sql<{ n: number }[]>`select ${i}::int as n`));
        expect(answers.map((rows) => onlyRow(rows).n)).toEqual([0, 1, 2, 3, 4, 5]);
      }
    } finally {
      await killer.end();
    }
  });
});
