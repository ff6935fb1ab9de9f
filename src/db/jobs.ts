// Jobs and their images. Every lifecycle function is keyed by job id and idempotent, so the
// worker may run it again after a crash or a redelivered BullMQ job (at-least-once).
import { createHash } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { imageSeed, newJobId, type JobKind, type JobParams } from '../contract/index.js';
import { onlyRow, type Db } from './client.js';
import { refundJob, reserveQuota, type QuotaContext, type RefundResult } from './quota.js';
import { FINAL_STATUSES, images, jobs, type ImageRow, type JobRow, type JobStatus } from './schema.js';
import { ensureUser, getGuildBan } from './users.js';

export type Job = JobRow;
export type StoredImage = ImageRow;

const ACTIVE: JobStatus[] = ['queued', 'running'];
export interface NewJobInput extends QuotaContext {
  interactionId: string;
  /** Secret; stored for the worker, never logged. */
  interactionToken: string;
  /** Default: 15 minutes from now (Discord's interaction token lifetime). */
  interactionTokenExpiresAt?: Date;
  userId: string;
  channelId: string;
  kind: JobKind;
  /** Validated by the caller with the job contract; the table's CHECKs enforce the same limits. */
  params: JobParams;
  /** The job whose buttons created this one (variation, upscale, reroll, rerun) and which image. */
  parent?: { jobId: string; index: number | null } | null;
  /** Images charged; default `params.count`. 0 skips the quota. */
  cost?: number;
  /** MAX_JOBS_PER_USER: refuse while the user has this many queued/running jobs. */
  maxActiveJobs: number;
}

export type CreateJobResult =
  | { ok: true; job: Job }
  /** `level`: the quota everywhere, or the server's own limit for the user. */
  | { ok: false; reason: 'quota'; level: 'global' | 'server'; remaining: number; limit: number; resetsAt: Date }
  /** `scope`: banned everywhere (a bot owner), or in this server (its admins). */
  | { ok: false; reason: 'banned'; scope: 'global' | 'server'; banReason: string | null }
  | { ok: false; reason: 'duplicate'; job: Job }
  | { ok: false; reason: 'too_many_jobs'; active: number; max: number };

type Refusal = Extract<CreateJobResult, { ok: false }>;

/** Thrown inside the transaction to roll it back; turned into a refusal value outside. */
class RollbackWithRefusal extends Error {
  constructor(readonly refusal: Refusal) {
    super(`refused: ${refusal.reason}`);
  }
}

export class JobNotFoundError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} does not exist`);
    this.name = 'JobNotFoundError';
  }
}

export class ImageIndexError extends Error {
  constructor(
    readonly jobId: string,
    readonly index: number,
    readonly count: number,
  ) {
    super(`job ${jobId} has ${count} image(s); there is no image ${index + 1}`);
    this.name = 'ImageIndexError';
  }
}

/**
 * One transaction: upsert the user (its row lock serialises this user's requests), refuse a
 * redelivered interaction, a banned user, too many active jobs, then insert the job and charge
 * its cost atomically. Refusals are values; nothing is charged or inserted for them.
 * The job's priority is 1 + the user's queued/running jobs (the queue contract).
 */
export async function createJobWithReservation(db: Db, input: NewJobInput): Promise<CreateJobResult> {
  const cost = input.cost ?? input.params.count;
  if (!Number.isInteger(cost) || cost < 0) throw new RangeError(`cost must be a whole number >= 0, got ${cost}`);
  try {
    return await db.transaction(async (tx): Promise<CreateJobResult> => {
      const user = await ensureUser(tx, input.userId);
      const [existing] = await tx.select().from(jobs).where(eq(jobs.interactionId, input.interactionId));
      if (existing) return { ok: false, reason: 'duplicate', job: existing };
      if (user.banned) return { ok: false, reason: 'banned', scope: 'global', banReason: user.banReason };
      const serverBan = input.guildId === null ? null : await getGuildBan(tx, input.guildId, input.userId);
      if (serverBan !== null) return { ok: false, reason: 'banned', scope: 'server', banReason: serverBan.reason || null };
      const active = await countActiveJobs(tx, input.userId);
      if (active >= input.maxActiveJobs) return { ok: false, reason: 'too_many_jobs', active, max: input.maxActiveJobs };

      const job = await insertJob(tx, input, cost, 1 + active);
      if (cost > 0) {
        const reserved = await reserveQuota(tx, { ...input, cost, jobId: job.id, reason: `${input.kind} ${job.id}` });
        if (!reserved.ok) {
          const refused = reserved.level === 'server' && reserved.server !== null ? reserved.server : reserved.quota;
          const limit = refused.limit ?? 0;
          const remaining = refused.remaining ?? 0;
          throw new RollbackWithRefusal({
            ok: false,
            reason: 'quota',
            level: reserved.level,
            remaining,
            limit,
            resetsAt: refused.resetsAt,
          });
        }
      }
      return { ok: true, job };
    });
  } catch (err) {
    if (err instanceof RollbackWithRefusal) return err.refusal;
    throw err;
  }
}

async function insertJob(tx: Db, input: NewJobInput, cost: number, priority: number): Promise<Job> {
  const p = input.params;
  // A fresh id collides only with a job created in the same millisecond with the same 20
  // random bits; then try another id.
  for (let attempt = 0; attempt < 5; attempt++) {
    const [job] = await tx
      .insert(jobs)
      .values({
        id: newJobId(),
        interactionId: input.interactionId,
        interactionToken: input.interactionToken,
        interactionTokenExpiresAt: input.interactionTokenExpiresAt ?? sql`now() + interval '15 minutes'`,
        userId: input.userId,
        guildId: input.guildId,
        channelId: input.channelId,
        kind: input.kind,
        parentJobId: input.parent?.jobId ?? null,
        parentIndex: input.parent?.index ?? null,
        initJobId: p.init !== null && 'jobId' in p.init ? p.init.jobId : null,
        initIndex: p.init !== null && 'index' in p.init ? p.init.index : null,
        initInputId: p.init !== null && 'inputId' in p.init ? p.init.inputId : null,
        edit: p.edit,
        prompt: p.prompt,
        negativePrompt: p.negativePrompt,
        model: p.model,
        sampler: p.sampler,
        steps: p.steps,
        guidance: p.guidance,
        width: p.width,
        height: p.height,
        count: p.count,
        strength: p.init?.strength ?? null,
        seed: p.seed,
        rng: p.rng,
        cost,
        priority,
      })
      .onConflictDoNothing({ target: jobs.id })
      .returning();
    if (job) return job;
  }
  throw new Error('could not allocate a unique job id after 5 attempts');
}

/**
 * queued|running -> running, attempts + 1. Returns the job, or null when it is cancelled,
 * finished or unknown (the worker then skips it).
 */
export async function claimJob(db: Db, jobId: string, workerId: string): Promise<Job | null> {
  const [job] = await db
    .update(jobs)
    .set({ status: 'running', workerId, attempts: sql`${jobs.attempts} + 1`, startedAt: sql`coalesce(${jobs.startedAt}, now())` })
    .where(and(eq(jobs.id, jobId), inArray(jobs.status, ACTIVE)))
    .returning();
  return job ?? null;
}

/**
 * What one run of a job holds: the attempt its claimJob made (`attempts` after it) and its
 * worker. The fencing token of its edits: a run may change the job or its message only while
 * the row says `running` under both (cancelled under both: it may show the cancel).
 */
export interface RunFence {
  attempt: number;
  workerId: string;
}

/** The fence of the run that claimed `job` (claimJob's row) on `workerId`. */
export function runFence(job: Pick<Job, 'attempts'>, workerId: string): RunFence {
  return { attempt: job.attempts, workerId };
}

/**
 * Where a run stands, from one read: `current` (the row says running under its fence),
 * `cancelled` (cancelled while this run held it: stop and show the cancel) or `superseded`
 * (finished, handed back, claimed again by another run, or gone: stop, touch nothing).
 */
export type RunState = 'current' | 'cancelled' | 'superseded';

export async function runState(db: Db, jobId: string, fence: RunFence): Promise<RunState> {
  const [row] = await db
    .select({ status: jobs.status, attempts: jobs.attempts, workerId: jobs.workerId })
    .from(jobs)
    .where(eq(jobs.id, jobId));
  if (row === undefined || row.attempts !== fence.attempt || row.workerId !== fence.workerId) return 'superseded';
  if (row.status === 'running') return 'current';
  return row.status === 'cancelled' ? 'cancelled' : 'superseded';
}

/** The condition "the row is running under this fence", for the fenced UPDATEs. */
function heldBy(fence: RunFence) {
  return and(eq(jobs.status, 'running'), eq(jobs.attempts, fence.attempt), eq(jobs.workerId, fence.workerId));
}

export interface NewImage {
  index: number;
  seed: number;
  width: number;
  height: number;
  png: Uint8Array;
}

export interface CompleteResult {
  /** True for the one call that stored the images and set `succeeded`: only it edits Discord. */
  didComplete: boolean;
  /** The status after the call. */
  status: JobStatus;
}

/**
 * Stores the images and marks the job succeeded, in one transaction, unless the job is already
 * final (succeeded by an earlier delivery, failed, cancelled): then nothing changes. With a
 * `fence`, also unless the row is no longer running under it (another run took the job over).
 */
export async function completeJob(
  db: Db,
  jobId: string,
  newImages: NewImage[],
  details: { modelHash?: string; timings?: Record<string, number>; fence?: RunFence } = {},
): Promise<CompleteResult> {
  return db.transaction(async (tx) => {
    const [locked] = await tx
      .select({ status: jobs.status, count: jobs.count, attempts: jobs.attempts, workerId: jobs.workerId })
      .from(jobs)
      .where(eq(jobs.id, jobId))
      .for('update');
    if (!locked) throw new JobNotFoundError(jobId);
    if (FINAL_STATUSES.includes(locked.status)) return { didComplete: false, status: locked.status };
    const { fence } = details;
    if (fence !== undefined && (locked.status !== 'running' || locked.attempts !== fence.attempt || locked.workerId !== fence.workerId)) {
      return { didComplete: false, status: locked.status };
    }
    for (const img of newImages) {
      if (!Number.isInteger(img.index) || img.index < 0 || img.index >= locked.count)
        throw new ImageIndexError(jobId, img.index, locked.count);
    }
    if (newImages.length > 0) {
      await tx
        .insert(images)
        .values(
          newImages.map((img) => ({
            jobId,
            index: img.index,
            seed: img.seed,
            width: img.width,
            height: img.height,
            sha256: createHash('sha256').update(img.png).digest('hex'),
            png: Buffer.from(img.png.buffer, img.png.byteOffset, img.png.byteLength),
          })),
        )
        .onConflictDoNothing();
    }
    await tx
      .update(jobs)
      .set({
        status: 'succeeded',
        error: null,
        finishedAt: sql`now()`,
        ...(details.modelHash === undefined ? {} : { modelHash: details.modelHash }),
        ...(details.timings === undefined ? {} : { timings: details.timings }),
      })
      .where(eq(jobs.id, jobId));
    return { didComplete: true, status: 'succeeded' };
  });
}

/**
 * queued|running -> failed with the error text, and refunds the job once. With a `fence`,
 * only while the row is running under it (a superseded run fails nothing).
 */
export async function failJob(
  db: Db,
  jobId: string,
  error: string,
  fence?: RunFence,
): Promise<{ didFail: boolean; refund: RefundResult | null }> {
  return db.transaction(async (tx) => {
    const [failed] = await tx
      .update(jobs)
      .set({ status: 'failed', error, finishedAt: sql`now()` })
      .where(and(eq(jobs.id, jobId), fence === undefined ? inArray(jobs.status, ACTIVE) : heldBy(fence)))
      .returning({ id: jobs.id });
    if (!failed) return { didFail: false, refund: null };
    return { didFail: true, refund: await refundJob(tx, jobId, `failed: ${error.slice(0, 200)}`) };
  });
}

/**
 * queued|running -> cancelled, and refunds the job once. Returns the status before the call
 * (null for an unknown job); `cancelled` is true only for the call that cancelled it.
 * Whether `byUserId` may cancel is the caller's decision.
 */
export async function cancelJob(
  db: Db,
  jobId: string,
  byUserId: string,
): Promise<{ previousStatus: JobStatus | null; cancelled: boolean }> {
  return db.transaction(async (tx) => {
    const [locked] = await tx.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, jobId)).for('update');
    if (!locked) return { previousStatus: null, cancelled: false };
    if (!ACTIVE.includes(locked.status)) return { previousStatus: locked.status, cancelled: false };
    await tx
      .update(jobs)
      .set({ status: 'cancelled', cancelledBy: byUserId, finishedAt: sql`now()` })
      .where(eq(jobs.id, jobId));
    await refundJob(tx, jobId, `cancelled by ${byUserId}`);
    return { previousStatus: locked.status, cancelled: true };
  });
}

/**
 * Records that the final message reached Discord, once: true for the first delivery; a later
 * one (which replaced the same message) changes nothing and returns false.
 */
export async function markDelivered(db: Db, jobId: string, messageId?: string): Promise<boolean> {
  const marked = await db
    .update(jobs)
    .set({ deliveredAt: sql`now()`, deliveryError: null, ...(messageId === undefined ? {} : { messageId }) })
    .where(and(eq(jobs.id, jobId), isNull(jobs.deliveredAt)))
    .returning({ id: jobs.id });
  return marked.length > 0;
}

export async function setDeliveryError(db: Db, jobId: string, error: string): Promise<void> {
  await db.update(jobs).set({ deliveryError: error }).where(eq(jobs.id, jobId));
}

export async function setMessageId(db: Db, jobId: string, messageId: string): Promise<void> {
  await db.update(jobs).set({ messageId }).where(eq(jobs.id, jobId));
}

export async function getJob(db: Db, jobId: string): Promise<Job | null> {
  const [job] = await db.select().from(jobs).where(eq(jobs.id, jobId));
  return job ?? null;
}

export async function listImages(db: Db, jobId: string): Promise<StoredImage[]> {
  return db.select().from(images).where(eq(images.jobId, jobId)).orderBy(asc(images.index));
}

export async function getImage(db: Db, jobId: string, index: number): Promise<StoredImage | null> {
  const [image] = await db
    .select()
    .from(images)
    .where(and(eq(images.jobId, jobId), eq(images.index, index)));
  return image ?? null;
}

/**
 * The images a job shows, in index order: its own, or for a U1-U4 (`select`) job the one
 * image of its parent it selected (it stores no copy). Their `png` is null once expired.
 */
export async function shownImages(db: Db, job: Pick<Job, 'id' | 'kind' | 'parentJobId' | 'parentIndex'>): Promise<StoredImage[]> {
  const own = await listImages(db, job.id);
  if (own.length > 0 || job.kind !== 'select' || job.parentJobId === null) return own;
  const selected = await getImage(db, job.parentJobId, job.parentIndex ?? 0);
  return selected === null ? [] : [selected];
}

/** Writes back the bytes of an expired image, regenerated and proven identical (same SHA-256); false if they differ. */
export async function restoreImage(db: Db, jobId: string, index: number, png: Uint8Array): Promise<boolean> {
  const sha256 = createHash('sha256').update(png).digest('hex');
  const restored = await db
    .update(images)
    .set({ png: Buffer.from(png.buffer, png.byteOffset, png.byteLength), storedAt: sql`now()` })
    .where(and(eq(images.jobId, jobId), eq(images.index, index), eq(images.sha256, sha256)))
    .returning({ index: images.index });
  return restored.length > 0;
}

/** The user's jobs, newest first (for /history). */
export async function listUserJobs(db: Db, userId: string, limit: number): Promise<Job[]> {
  return db.select().from(jobs).where(eq(jobs.userId, userId)).orderBy(desc(jobs.createdAt), desc(jobs.id)).limit(limit);
}

/** The user's queued + running jobs. */
export async function countActiveJobs(db: Db, userId: string): Promise<number> {
  const rows = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(jobs)
    .where(and(eq(jobs.userId, userId), inArray(jobs.status, ACTIVE)));
  return onlyRow(rows, 'countActiveJobs').n;
}

/** How many queued jobs for the same model were created before this one (0: next). */
export async function queuePosition(db: Db, job: Pick<Job, 'id' | 'model' | 'createdAt'>): Promise<number> {
  const createdAt = job.createdAt.toISOString();
  const rows = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(jobs)
    .where(
      and(
        eq(jobs.status, 'queued'),
        eq(jobs.model, job.model),
        sql`(${jobs.createdAt}, ${jobs.id}) < (${createdAt}::timestamptz, ${job.id})`,
      ),
    );
  return onlyRow(rows, 'queuePosition').n;
}

function initOf(job: Job): JobParams['init'] {
  if (job.strength === null) return null;
  if (job.initInputId !== null) return { inputId: job.initInputId, strength: job.strength };
  if (job.initJobId !== null && job.initIndex !== null) return { jobId: job.initJobId, index: job.initIndex, strength: job.strength };
  return null;
}

/** A job's request, as stored. */
export function jobParams(job: Job): JobParams {
  return {
    prompt: job.prompt,
    negativePrompt: job.negativePrompt,
    model: job.model,
    sampler: job.sampler,
    steps: job.steps,
    guidance: job.guidance,
    width: job.width,
    height: job.height,
    count: job.count,
    seed: job.seed,
    rng: job.rng,
    init: initOf(job),
    edit: job.edit,
  };
}

/**
 * The exact parameters of a job, to run it again: with `index` i only image i (seed + i,
 * count 1); with `seed` that seed instead (applied after `index`). Null for an unknown job.
 */
export async function rebuildRequest(db: Db, jobId: string, options: { index?: number; seed?: number } = {}): Promise<JobParams | null> {
  const job = await getJob(db, jobId);
  if (!job) return null;
  const params = jobParams(job);
  if (options.index !== undefined) {
    if (!Number.isInteger(options.index) || options.index < 0 || options.index >= job.count) {
      throw new ImageIndexError(jobId, options.index, job.count);
    }
    params.seed = imageSeed(params.seed, options.index);
    params.count = 1;
  }
  if (options.seed !== undefined) params.seed = options.seed;
  return params;
}
