// Jobs on a real Postgres: unique interaction ids under concurrency, refusals as values,
// the idempotent lifecycle the worker relies on, images stored once, rebuildRequest.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { normalizeJobId } from '../src/contract/index.js';
import {
  banUser,
  banInGuild,
  unbanInGuild,
  cancelJob,
  claimJob,
  runFence,
  runState,
  completeJob,
  countActiveJobs,
  createJobWithReservation,
  failJob,
  getImage,
  getJob,
  getQuota,
  ImageIndexError,
  JobNotFoundError,
  listAudit,
  listImages,
  listUserJobs,
  markDelivered,
  queuePosition,
  rebuildRequest,
  setDeliveryError,
  setMessageId,
  unbanUser,
  type Job,
  type NewImage,
  type NewJobInput,
} from '../src/db/index.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';
import { sampleJobInput, sampleParams, snowflake } from './support/db-fixtures.js';

const ctx = { guildId: null, defaultLimit: 50 };

let pg: TestDatabase;

beforeAll(async () => {
  pg = await createTestDatabase('db_jobs', { max: 12 });
});

afterAll(async () => {
  await pg?.drop();
});

async function createJob(input: NewJobInput): Promise<Job> {
  const result = await createJobWithReservation(pg.db, input);
  if (!result.ok) throw new Error(`job refused: ${result.reason}`);
  return result.job;
}

function fakePng(seed: number): Uint8Array {
  return new Uint8Array([0x89, 0x50, 0x4e, 0x47, seed & 0xff, (seed >> 8) & 0xff, 1, 2, 3]);
}

function imagesFor(job: Job): NewImage[] {
  return Array.from({ length: job.count }, (_, index) => ({
    index,
    seed: job.seed + index,
    width: job.width,
    height: job.height,
    png: fakePng(job.seed + index),
  }));
}

describe('createJobWithReservation', () => {
  it('creates one job when the same interaction arrives twice concurrently', async () => {
    const user = snowflake();
    const input = sampleJobInput(user);
    const [a, b] = await Promise.all([createJobWithReservation(pg.db, input), createJobWithReservation(pg.db, input)]);
    const created = [a, b].filter((r) => r.ok);
    const duplicates = [a, b].filter((r) => !r.ok && r.reason === 'duplicate');
    expect(created).toHaveLength(1);
    expect(duplicates).toHaveLength(1);
    const winner = at(created, 0);
    const duplicate = at(duplicates, 0);
    if (!winner.ok || duplicate.ok || duplicate.reason !== 'duplicate') throw new Error('unreachable');
    expect(duplicate.job.id).toBe(winner.job.id);
    const { jobs } = at(
      await pg.sql<{ jobs: number }[]>`select count(*)::int as jobs from jobs where interaction_id = ${input.interactionId}`,
      0,
    );
    expect(jobs).toBe(1);
    expect((await getQuota(pg.db, user, ctx)).used).toBe(4);
  });

  it('stores every parameter, a short id, the priority and the token expiry', async () => {
    const user = snowflake();
    const params = sampleParams({
      seed: 4_294_967_295,
      sampler: 'dpmpp_2m_karras',
      guidance: 4.25,
      width: 96,
      height: 80,
      count: 2,
      rng: 'torch',
    });
    const first = await createJob(sampleJobInput(user, { params, guildId: '400000000000000001' }));
    expect(first.id).toMatch(/^[0-9a-hjkmnp-tv-z]{12}$/);
    expect(normalizeJobId(` ${first.id.toUpperCase()} `)).toBe(first.id);
    expect(first).toMatchObject({
      status: 'queued',
      kind: 'imagine',
      userId: user,
      guildId: '400000000000000001',
      prompt: params.prompt,
      negativePrompt: params.negativePrompt,
      model: 'shapes-demo',
      sampler: 'dpmpp_2m_karras',
      steps: 12,
      guidance: 4.25,
      width: 96,
      height: 80,
      count: 2,
      seed: 4_294_967_295,
      rng: 'torch',
      strength: null,
      cost: 2,
      priority: 1,
      attempts: 0,
    });
    const lifetime = first.interactionTokenExpiresAt.getTime() - first.createdAt.getTime();
    expect(lifetime).toBe(15 * 60_000);
    const second = await createJob(sampleJobInput(user));
    expect(second.priority).toBe(2);
    expect(second.id > first.id).toBe(true);
  });

  it('refuses a user banned in the server the request comes from, and only there', async () => {
    const user = snowflake();
    const guildId = snowflake();
    await banInGuild(pg.db, { guildId, userId: user, actorId: '900000000000000002', reason: 'flooding' });
    expect(await createJobWithReservation(pg.db, sampleJobInput(user, { guildId }))).toEqual({
      ok: false,
      reason: 'banned',
      scope: 'server',
      banReason: 'flooding',
    });
    expect((await createJobWithReservation(pg.db, sampleJobInput(user, { guildId: null }))).ok).toBe(true);
    expect((await createJobWithReservation(pg.db, sampleJobInput(user, { guildId: snowflake() }))).ok).toBe(true);
    expect(await unbanInGuild(pg.db, { guildId, userId: user, actorId: '900000000000000002' })).toBe(true);
    expect((await createJobWithReservation(pg.db, sampleJobInput(user, { guildId }))).ok).toBe(true);
  });

  it('refuses banned users and users with too many active jobs, as values', async () => {
    const user = snowflake();
    await banUser(pg.db, { userId: user, actorId: '900000000000000001', reason: 'spam' });
    expect(await createJobWithReservation(pg.db, sampleJobInput(user))).toEqual({
      ok: false,
      reason: 'banned',
      scope: 'global',
      banReason: 'spam',
    });
    await unbanUser(pg.db, { userId: user, actorId: '900000000000000001', reason: 'appeal' });
    expect((await listAudit(pg.db, { limit: 5, targetId: user })).map((a) => a.action)).toEqual(['user.unban', 'user.ban']);

    await createJob(sampleJobInput(user, { maxActiveJobs: 2, params: sampleParams({ count: 1 }) }));
    await createJob(sampleJobInput(user, { maxActiveJobs: 2, params: sampleParams({ count: 1 }) }));
    expect(await createJobWithReservation(pg.db, sampleJobInput(user, { maxActiveJobs: 2 }))).toEqual({
      ok: false,
      reason: 'too_many_jobs',
      active: 2,
      max: 2,
    });
    expect(await countActiveJobs(pg.db, user)).toBe(2);
    expect((await getQuota(pg.db, user, ctx)).used).toBe(2);
  });

  it("refuses values outside the job contract's limits with the table's CHECKs, inserting and charging nothing", async () => {
    const user = snowflake();
    const input = sampleJobInput(user, { params: sampleParams({ count: 5 }) });
    await expect(createJobWithReservation(pg.db, input)).rejects.toMatchObject({ cause: { constraint_name: 'jobs_count' } });
    expect(await listUserJobs(pg.db, user, 10)).toEqual([]);
    expect((await getQuota(pg.db, user, ctx)).used).toBe(0);
  });
});

describe('job lifecycle', () => {
  it('claims, completes once under concurrency, and stores the images once', async () => {
    const user = snowflake();
    const job = await createJob(sampleJobInput(user));
    const claimed = await claimJob(pg.db, job.id, 'worker-a');
    expect(claimed).toMatchObject({ status: 'running', workerId: 'worker-a', attempts: 1 });
    // A redelivered BullMQ job claims again: still running, one more attempt.
    expect((await claimJob(pg.db, job.id, 'worker-b'))?.attempts).toBe(2);

    const images = imagesFor(job);
    const results = await Promise.all([
      completeJob(pg.db, job.id, images, { modelHash: 'abc123', timings: { totalMs: 1200 } }),
      completeJob(pg.db, job.id, images, { modelHash: 'abc123', timings: { totalMs: 1300 } }),
    ]);
    expect(results.filter((r) => r.didComplete)).toHaveLength(1);
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);

    const stored = await listImages(pg.db, job.id);
    expect(stored.map((i) => i.index)).toEqual([0, 1, 2, 3]);
    const third = at(stored, 2);
    expect(third.seed).toBe(job.seed + 2);
    expect(Buffer.compare(third.png!, Buffer.from(at(images, 2).png))).toBe(0);
    expect(third.sha256).toBe(createHash('sha256').update(at(images, 2).png).digest('hex'));
    expect((await getImage(pg.db, job.id, 3))?.png?.length).toBe(at(images, 3).png.length);
    expect(await getImage(pg.db, job.id, 4)).toBeNull();

    const done = await getJob(pg.db, job.id);
    expect(done).toMatchObject({ status: 'succeeded', modelHash: 'abc123' });
    expect(done?.finishedAt).toBeInstanceOf(Date);
    expect(await claimJob(pg.db, job.id, 'worker-c')).toBeNull();
    expect(await failJob(pg.db, job.id, 'too late')).toEqual({ didFail: false, refund: null });
    expect(await cancelJob(pg.db, job.id, user)).toEqual({ previousStatus: 'succeeded', cancelled: false });
    expect((await getQuota(pg.db, user, ctx)).used).toBe(4);
  });

  it('fences each run by its attempt and worker: a superseded run can neither complete, fail nor keep editing', async () => {
    const user = snowflake();
    const job = await createJob(sampleJobInput(user, { params: sampleParams({ count: 1 }) }));
    const first = runFence((await claimJob(pg.db, job.id, 'worker-a'))!, 'worker-a');
    expect(first).toEqual({ attempt: 1, workerId: 'worker-a' });
    expect(await runState(pg.db, job.id, first)).toBe('current');
    // Another worker with the same attempt number is not this run.
    expect(await runState(pg.db, job.id, { attempt: 1, workerId: 'worker-b' })).toBe('superseded');

    // The BullMQ lock was lost: the job runs again elsewhere, as attempt 2.
    const second = runFence((await claimJob(pg.db, job.id, 'worker-b'))!, 'worker-b');
    expect(second).toEqual({ attempt: 2, workerId: 'worker-b' });
    expect(await runState(pg.db, job.id, first)).toBe('superseded');
    expect(await runState(pg.db, job.id, second)).toBe('current');
    expect(await completeJob(pg.db, job.id, imagesFor(job), { fence: first })).toEqual({ didComplete: false, status: 'running' });
    expect(await failJob(pg.db, job.id, 'stale', first)).toEqual({ didFail: false, refund: null });
    expect(await listImages(pg.db, job.id)).toEqual([]);

    // Cancelled while attempt 2 ran: that run shows the cancel, the stale one stays silent.
    expect((await cancelJob(pg.db, job.id, user)).cancelled).toBe(true);
    expect(await runState(pg.db, job.id, second)).toBe('cancelled');
    expect(await runState(pg.db, job.id, first)).toBe('superseded');
    expect(await completeJob(pg.db, job.id, imagesFor(job), { fence: second })).toEqual({ didComplete: false, status: 'cancelled' });

    // Finished by the current run: the job is no one's to edit any more, and the ledger is untouched by stale runs.
    const other = await createJob(sampleJobInput(user, { params: sampleParams({ count: 1 }) }));
    const run = runFence((await claimJob(pg.db, other.id, 'worker-a'))!, 'worker-a');
    expect(await completeJob(pg.db, other.id, imagesFor(other), { fence: run })).toEqual({ didComplete: true, status: 'succeeded' });
    expect(await runState(pg.db, other.id, run)).toBe('superseded');
    expect(await failJob(pg.db, other.id, 'late', run)).toEqual({ didFail: false, refund: null });
    expect(await runState(pg.db, 'nosuchjob1', run)).toBe('superseded');
    const ledger = await pg.sql<
      { job_id: string; kind: string }[]
    >`select job_id, kind from quota_ledger where job_id in (${job.id}, ${other.id}) order by id`;
    expect(ledger).toEqual([
      { job_id: job.id, kind: 'charge' },
      { job_id: job.id, kind: 'refund' },
      { job_id: other.id, kind: 'charge' },
    ]);
  });

  it('cancels a queued job once, refunds it, and the worker then skips it', async () => {
    const user = snowflake();
    const job = await createJob(sampleJobInput(user));
    expect(await cancelJob(pg.db, job.id, user)).toEqual({ previousStatus: 'queued', cancelled: true });
    expect(await cancelJob(pg.db, job.id, user)).toEqual({ previousStatus: 'cancelled', cancelled: false });
    expect(await cancelJob(pg.db, 'nosuchjob000', user)).toEqual({ previousStatus: null, cancelled: false });
    expect(await claimJob(pg.db, job.id, 'worker-a')).toBeNull();
    expect(await completeJob(pg.db, job.id, imagesFor(job))).toEqual({ didComplete: false, status: 'cancelled' });
    expect(await listImages(pg.db, job.id)).toEqual([]);
    expect((await getJob(pg.db, job.id))?.cancelledBy).toBe(user);
    expect((await getQuota(pg.db, user, ctx)).used).toBe(0);
  });

  it('fails a running job once with its error, refunding once', async () => {
    const user = snowflake();
    const job = await createJob(sampleJobInput(user, { params: sampleParams({ count: 3 }) }));
    await claimJob(pg.db, job.id, 'worker-a');
    expect(await failJob(pg.db, job.id, 'ONNX Runtime: out of memory')).toEqual({
      didFail: true,
      refund: { credited: 3, alreadyRefunded: false },
    });
    expect(await failJob(pg.db, job.id, 'again')).toEqual({ didFail: false, refund: null });
    expect(await getJob(pg.db, job.id)).toMatchObject({ status: 'failed', error: 'ONNX Runtime: out of memory' });
    expect((await getQuota(pg.db, user, ctx)).used).toBe(0);
  });

  it('records message ids and delivery', async () => {
    const job = await createJob(sampleJobInput(snowflake()));
    await setMessageId(pg.db, job.id, '500000000000000001');
    await setDeliveryError(pg.db, job.id, 'HTTP 503 from Discord');
    expect(await getJob(pg.db, job.id)).toMatchObject({
      messageId: '500000000000000001',
      deliveryError: 'HTTP 503 from Discord',
      deliveredAt: null,
    });
    expect(await markDelivered(pg.db, job.id, '500000000000000002')).toBe(true);
    const delivered = await getJob(pg.db, job.id);
    expect(delivered).toMatchObject({ messageId: '500000000000000002', deliveryError: null });
    const firstDelivery = delivered?.deliveredAt?.getTime();
    expect(firstDelivery).toBeTypeOf('number');
    expect(await markDelivered(pg.db, job.id, '500000000000000003')).toBe(false);
    expect((await getJob(pg.db, job.id))?.messageId).toBe('500000000000000002');
    expect((await getJob(pg.db, job.id))?.deliveredAt?.getTime()).toBe(firstDelivery);
  });

  it('rejects completing an unknown job, or with an image the job does not have', async () => {
    await expect(completeJob(pg.db, 'nosuchjob000', [])).rejects.toBeInstanceOf(JobNotFoundError);
    const job = await createJob(sampleJobInput(snowflake(), { params: sampleParams({ count: 2 }) }));
    const first = at(imagesFor(job), 0);
    await expect(completeJob(pg.db, job.id, [first, { ...first, index: 2 }])).rejects.toThrow(
      `job ${job.id} has 2 image(s); there is no image 3`,
    );
    expect(await getJob(pg.db, job.id)).toMatchObject({ status: 'queued' });
    expect(await listImages(pg.db, job.id)).toEqual([]);
  });
});

describe('queries', () => {
  it('lists a user’s jobs newest first and counts queue positions per model', async () => {
    const user = snowflake();
    const model = `queue-test-${snowflake()}`;
    const jobs: Job[] = [];
    for (let i = 0; i < 3; i++) jobs.push(await createJob(sampleJobInput(user, { params: sampleParams({ model, count: 1 }) })));
    const other = await createJob(sampleJobInput(snowflake(), { params: sampleParams({ model: `${model}-other`, count: 1 }) }));

    expect((await listUserJobs(pg.db, user, 2)).map((j) => j.id)).toEqual([at(jobs, 2).id, at(jobs, 1).id]);
    expect(await Promise.all(jobs.map((j) => queuePosition(pg.db, j)))).toEqual([0, 1, 2]);
    expect(await queuePosition(pg.db, other)).toBe(0);
    await claimJob(pg.db, at(jobs, 0).id, 'worker-a');
    expect(await queuePosition(pg.db, at(jobs, 2))).toBe(1);
  });
});

describe('rebuildRequest', () => {
  it('round-trips the parameters, one image by index, or a new seed', async () => {
    const params = sampleParams({ seed: 4_294_967_294, count: 4, sampler: 'ddim', rng: 'torch', guidance: 6 });
    const job = await createJob(sampleJobInput(snowflake(), { params }));
    expect(await rebuildRequest(pg.db, job.id)).toEqual(params);
    expect(await rebuildRequest(pg.db, job.id, { index: 1 })).toEqual({ ...params, seed: 4_294_967_295, count: 1 });
    expect(await rebuildRequest(pg.db, job.id, { index: 3 })).toEqual({ ...params, seed: 1, count: 1 });
    expect(await rebuildRequest(pg.db, job.id, { seed: 42 })).toEqual({ ...params, seed: 42 });
    await expect(rebuildRequest(pg.db, job.id, { index: 4 })).rejects.toBeInstanceOf(ImageIndexError);
    expect(await rebuildRequest(pg.db, 'nosuchjob000')).toBeNull();
  });

  it('keeps a variation’s source image and strength apart from its lineage', async () => {
    const user = snowflake();
    const parent = await createJob(sampleJobInput(user));
    const params = sampleParams({ count: 4, init: { jobId: parent.id, index: 2, strength: 0.6 } });
    const variation = await createJob(sampleJobInput(user, { kind: 'variation', params, parent: { jobId: parent.id, index: 2 } }));
    expect(variation).toMatchObject({
      kind: 'variation',
      parentJobId: parent.id,
      parentIndex: 2,
      initJobId: parent.id,
      initIndex: 2,
      strength: 0.6,
    });
    expect(await rebuildRequest(pg.db, variation.id)).toEqual(params);
    // A rerun of the variation is linked to the variation, and repeats its request (same source).
    const rerun = await createJob(sampleJobInput(user, { kind: 'rerun', params, parent: { jobId: variation.id, index: null } }));
    expect(rerun).toMatchObject({ parentJobId: variation.id, initJobId: parent.id, initIndex: 2 });
  });
});
