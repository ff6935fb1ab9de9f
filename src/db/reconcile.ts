// What the reconciler (src/worker/reconciler.ts) reads and changes: the jobs that should be
// on a queue, the running ones whose worker may be gone, the results never delivered. Each
// list is bounded; what a run leaves out, the next run sees.
import { and, asc, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import type { Job } from './jobs.js';
import { jobs, type JobStatus } from './schema.js';

/** Rows a reconcile run looks at per list; the oldest first. */
export const RECONCILE_BATCH = 500;

export async function listJobsWithStatus(db: Db, status: 'queued' | 'running'): Promise<Job[]> {
  return db.select().from(jobs).where(eq(jobs.status, status)).orderBy(asc(jobs.createdAt)).limit(RECONCILE_BATCH);
}

/**
 * Succeeded jobs whose result never reached Discord, finished between `maxAgeMs` and
 * `minAgeMs` ago (a younger one is probably being delivered by its worker right now).
 */
export async function listUndelivered(db: Db, options: { minAgeMs: number; maxAgeMs: number }): Promise<Job[]> {
  return db
    .select()
    .from(jobs)
    .where(
      and(
        eq(jobs.status, 'succeeded'),
        isNull(jobs.deliveredAt),
        lt(jobs.finishedAt, sql`now() - make_interval(secs => ${options.minAgeMs / 1000})`),
        gt(jobs.finishedAt, sql`now() - make_interval(secs => ${options.maxAgeMs / 1000})`),
      ),
    )
    .orderBy(asc(jobs.finishedAt))
    .limit(RECONCILE_BATCH);
}

/** The status of each of these jobs that exists. */
export async function jobStatuses(db: Db, jobIds: string[]): Promise<Map<string, JobStatus>> {
  if (jobIds.length === 0) return new Map();
  const rows = await db.select({ id: jobs.id, status: jobs.status }).from(jobs).where(inArray(jobs.id, jobIds));
  return new Map(rows.map((r) => [r.id, r.status]));
}

/**
 * running -> queued for a job whose worker is gone, if `workerId` still runs it. Its attempt
 * count stays: the next claim adds one. True when it was put back.
 */
export async function requeueJob(db: Db, jobId: string, workerId: string | null): Promise<boolean> {
  const requeued = await db
    .update(jobs)
    .set({ status: 'queued', workerId: null })
    .where(and(eq(jobs.id, jobId), eq(jobs.status, 'running'), workerId === null ? isNull(jobs.workerId) : eq(jobs.workerId, workerId)))
    .returning({ id: jobs.id });
  return requeued.length > 0;
}
