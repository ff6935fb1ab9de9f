// Retention on a real Postgres: what expireStoredData drops and keeps, and the daily run
// claimed by exactly one worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimPeriodicRun,
  completeJob,
  createJobWithReservation,
  expireStoredData,
  getJob,
  getReplay,
  listImages,
  storeReplay,
} from '../src/db/index.js';
import { silentLogger } from '../src/log.js';
import { createWorkerMetrics } from '../src/worker/metrics.js';
import { RetentionRunner } from '../src/worker/retention.js';
import { sampleJobInput, sampleParams, snowflake } from './support/db-fixtures.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

const DAY_MS = 86_400_000;
let pg: TestDatabase;

beforeAll(async () => {
  pg = await createTestDatabase('retention');
});
afterAll(async () => {
  await pg?.drop();
});

async function finishedJob(): Promise<string> {
  const created = await createJobWithReservation(pg.db, sampleJobInput(snowflake(), { cost: 0, params: sampleParams({ count: 2 }) }));
  if (!created.ok) throw new Error(created.reason);
  const png = (v: number) => new Uint8Array(1000).fill(v);
  await completeJob(pg.db, created.job.id, [
    { index: 0, seed: 1, width: 64, height: 64, png: png(1) },
    { index: 1, seed: 2, width: 64, height: 64, png: png(2) },
  ]);
  await storeReplay(pg.db, created.job.id, { webp: new Uint8Array(500), frames: 2, width: 8, height: 8 });
  return created.job.id;
}

describe('expireStoredData', () => {
  it('drops image bytes and replays older than the retention, keeps rows, seeds and hashes, and clears expired tokens', async () => {
    const jobId = await finishedJob();
    const now = Date.now();
    expect(await expireStoredData(pg.db, { retentionDays: 1, now: new Date(now) })).toMatchObject({ images: 0, replays: 0 });
    const report = await expireStoredData(pg.db, { retentionDays: 1, now: new Date(now + 2 * DAY_MS) });
    expect(report).toMatchObject({ images: 2, imageBytes: 2000, replays: 1, replayBytes: 500 });
    expect(report.tokens).toBeGreaterThanOrEqual(1);
    const images = await listImages(pg.db, jobId);
    expect(images.map((i) => [i.png, i.seed, i.sha256.length])).toEqual([
      [null, 1, 64],
      [null, 2, 64],
    ]);
    expect(await getReplay(pg.db, jobId)).toBeNull();
    expect((await getJob(pg.db, jobId))!).toMatchObject({ status: 'succeeded', interactionToken: null });
  });

  it('keeps everything but expired tokens with RETENTION_DAYS=0', async () => {
    const jobId = await finishedJob();
    const report = await expireStoredData(pg.db, { retentionDays: 0, now: new Date(Date.now() + 400 * DAY_MS) });
    expect(report).toMatchObject({ images: 0, replays: 0 });
    expect((await listImages(pg.db, jobId)).every((i) => i.png !== null)).toBe(true);
    expect((await getJob(pg.db, jobId))!.interactionToken).toBeNull();
  });
});

describe('the daily retention run', () => {
  it('is claimed by exactly one of many workers a day, and again the next day', async () => {
    const now = Date.now() + 1000 * DAY_MS;
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimPeriodicRun(pg.db, 'retention-test', { now: new Date(now), periodMs: DAY_MS, workerId: `w${i}` }),
      ),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await claimPeriodicRun(pg.db, 'retention-test', { now: new Date(now + DAY_MS / 2), periodMs: DAY_MS, workerId: 'w0' })).toBe(
      false,
    );
    expect(await claimPeriodicRun(pg.db, 'retention-test', { now: new Date(now + DAY_MS), periodMs: DAY_MS, workerId: 'w1' })).toBe(true);
  });

  it('reports what it freed in the metrics', async () => {
    await finishedJob();
    const metrics = createWorkerMetrics();
    let clock = Date.now() + 3000 * DAY_MS;
    const runner = (id: string) =>
      new RetentionRunner({ db: pg.db, workerId: id, retentionDays: 1, logger: silentLogger(), metrics, clock: () => clock });
    expect(await runner('a').runIfClaimed()).toBe(true);
    expect(await runner('b').runIfClaimed()).toBe(false);
    expect(metrics.registry.render()).toMatch(/^imagine_retention_freed_total\{kind="images"\} [1-9]/m);
    clock += DAY_MS;
    expect(await runner('b').runIfClaimed()).toBe(true);
  });
});
