// Replays on a real Postgres: stored once per job (the first one stays), read back byte
// for byte, and only for jobs that exist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobWithReservation, getReplay, storeReplay, type Job } from '../src/db/index.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';
import { sampleJobInput, snowflake } from './support/db-fixtures.js';

let pg: TestDatabase;

beforeAll(async () => {
  pg = await createTestDatabase('db_replays');
});

afterAll(async () => {
  await pg?.drop();
});

async function newJob(): Promise<Job> {
  const result = await createJobWithReservation(pg.db, sampleJobInput(snowflake()));
  if (!result.ok) throw new Error(`job refused: ${result.reason}`);
  return result.job;
}

/** Stand-in bytes (a RIFF/WEBP header and a payload); the database does not parse them. */
function fakeWebp(marker: number): Uint8Array {
  return new Uint8Array([0x52, 0x49, 0x46, 0x46, marker, 0, 0, 0, 0x57, 0x45, 0x42, 0x50, 0, 255, marker]);
}

describe('replays', () => {
  it('stores a replay and reads it back byte for byte', async () => {
    const job = await newJob();
    const webp = fakeWebp(7);
    expect(await storeReplay(pg.db, job.id, { webp, frames: 12, width: 256, height: 256 })).toBe(true);
    const stored = await getReplay(pg.db, job.id);
    expect(stored).toMatchObject({ jobId: job.id, frames: 12, width: 256, height: 256 });
    expect(Buffer.compare(stored!.webp, Buffer.from(webp))).toBe(0);
    expect(stored!.createdAt).toBeInstanceOf(Date);
  });

  it('keeps the first replay of a job when it is stored again (a redelivered job)', async () => {
    const job = await newJob();
    // A view into a larger buffer: only the viewed bytes are stored.
    const backing = new Uint8Array(64).fill(9);
    backing.set(fakeWebp(1), 10);
    const first = backing.subarray(10, 10 + fakeWebp(1).length);
    const results = await Promise.all([
      storeReplay(pg.db, job.id, { webp: first, frames: 3, width: 64, height: 64 }),
      storeReplay(pg.db, job.id, { webp: fakeWebp(2), frames: 5, width: 128, height: 128 }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const stored = (await getReplay(pg.db, job.id))!;
    const winner = results[0] ? { bytes: fakeWebp(1), frames: 3 } : { bytes: fakeWebp(2), frames: 5 };
    expect(Buffer.compare(stored.webp, Buffer.from(winner.bytes))).toBe(0);
    expect(stored.frames).toBe(winner.frames);
    expect(await storeReplay(pg.db, job.id, { webp: fakeWebp(3), frames: 9, width: 32, height: 32 })).toBe(false);
    expect((await getReplay(pg.db, job.id))!.frames).toBe(winner.frames);
  });

  it('answers null for a job without a replay, and refuses a replay of a job that does not exist', async () => {
    const job = await newJob();
    expect(await getReplay(pg.db, job.id)).toBeNull();
    expect(await getReplay(pg.db, 'zzzzzzzzzzzz')).toBeNull();
    await expect(storeReplay(pg.db, 'zzzzzzzzzzzz', { webp: fakeWebp(4), frames: 1, width: 8, height: 8 })).rejects.toMatchObject({
      cause: { code: '23503' },
    }); // foreign_key_violation
  });
});
