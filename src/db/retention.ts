// Bounded storage: image bytes and replays older than RETENTION_DAYS are dropped (the job
// rows, seeds, parameters and each image's SHA-256 stay, so an expired image is regenerated
// on demand, byte-identical, and proven so), and interaction tokens are cleared once they
// have expired. One worker runs it a day: the first to claim the day's run.
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';

export interface RetentionReport {
  images: number;
  imageBytes: number;
  replays: number;
  replayBytes: number;
  tokens: number;
}

/**
 * Expires what is older than `retentionDays` days before `now` (0 keeps every image and
 * replay; expired tokens are cleared anyway). Returns what it freed.
 */
export async function expireStoredData(db: Db, options: { retentionDays: number; now: Date }): Promise<RetentionReport> {
  const { retentionDays, now } = options;
  if (!Number.isInteger(retentionDays) || retentionDays < 0)
    throw new RangeError(`retentionDays must be a whole number >= 0, got ${retentionDays}`);
  const nowIso = now.toISOString();
  return db.transaction(async (tx) => {
    const none = { n: 0, bytes: 0 };
    let images = none;
    let replays = none;
    if (retentionDays > 0) {
      const cutoff = sql`${nowIso}::timestamptz - ${retentionDays}::int * interval '1 day'`;
      const [expiredImages] = await tx.execute<{ n: number; bytes: number }>(sql`
        with expired as (
          select job_id, index, octet_length(png) as bytes from images where png is not null and stored_at < ${cutoff} for update
        ), cleared as (
          update images i set png = null from expired e where i.job_id = e.job_id and i.index = e.index returning e.bytes
        )
        select count(*)::int as n, coalesce(sum(bytes), 0)::float8 as bytes from cleared`);
      const [deletedReplays] = await tx.execute<{ n: number; bytes: number }>(sql`
        with deleted as (delete from replays where created_at < ${cutoff} returning octet_length(webp) as bytes)
        select count(*)::int as n, coalesce(sum(bytes), 0)::float8 as bytes from deleted`);
      // A user's own pictures expire like results (counted with them).
      const [expiredInputs] = await tx.execute<{ n: number; bytes: number }>(sql`
        with expired as (
          select id, octet_length(png) as bytes from input_images where png is not null and stored_at < ${cutoff} for update
        ), cleared as (
          update input_images i set png = null from expired e where i.id = e.id returning e.bytes
        )
        select count(*)::int as n, coalesce(sum(bytes), 0)::float8 as bytes from cleared`);
      images = { n: (expiredImages?.n ?? 0) + (expiredInputs?.n ?? 0), bytes: (expiredImages?.bytes ?? 0) + (expiredInputs?.bytes ?? 0) };
      replays = deletedReplays ?? none;
    }
    const tokens = await tx.execute(sql`
      update jobs set interaction_token = null where interaction_token is not null and interaction_token_expires_at < ${nowIso}::timestamptz returning id`);
    return { images: images.n, imageBytes: images.bytes, replays: replays.n, replayBytes: replays.bytes, tokens: tokens.length };
  });
}

/**
 * Claims the run of a periodic task for this period (one conditional upsert on `settings`):
 * true for exactly one caller per `periodMs` across every worker.
 */
export async function claimPeriodicRun(db: Db, task: string, options: { now: Date; periodMs: number; workerId: string }): Promise<boolean> {
  const key = `last_run:${task}`;
  const nowIso = options.now.toISOString();
  const claimed = await db.execute(sql`
    insert into settings (key, value, updated_by) values (${key}, to_jsonb(${nowIso}::text), ${options.workerId})
    on conflict (key) do update set value = excluded.value, updated_by = excluded.updated_by, updated_at = now()
      where (settings.value #>> '{}')::timestamptz <= ${nowIso}::timestamptz - ${options.periodMs}::int * interval '1 millisecond'
    returning key`);
  return claimed.length > 0;
}
