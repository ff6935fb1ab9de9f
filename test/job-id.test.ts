// Job ids (src/contract/job-id.ts): never all digits, whatever the clock and the random draws,
// so BullMQ always takes them as custom ids; assertJobId still refuses what BullMQ would.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_ID_LENGTH, isJobId, newJobId, normalizeJobId } from '../src/contract/index.js';
import { InvalidJobIdError, assertJobId } from '../src/queue/index.js';
import { SHARED_REDIS_URL, dropPrefix, freshPrefix } from './support/redis.js';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const EPOCH_MS = Date.UTC(2024, 0, 1);

/** The clock reading whose 8 time characters are `prefix` (base32, as the generator writes them). */
function timeFor(prefix: string): number {
  let ms = 0;
  for (const ch of prefix) ms = ms * 32 + ALPHABET.indexOf(ch);
  return EPOCH_MS + ms;
}

/** A random source that only ever draws digits (index < 10), clamped to the bound. */
const digitsOnly = (bound: number) => Math.min(bound - 1, 7);
const zeros = () => 0;

describe('job ids', () => {
  const prefix = freshPrefix('jobid');
  let redis: Redis;
  let queue: Queue;

  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue('gen-jobid', { connection: redis, prefix });
  });

  afterAll(async () => {
    await queue.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('is never all digits: 200,000 ids over 2024-2058, half of them in all-digit time slots', () => {
    let sawDigitSlot = 0;
    for (let i = 0; i < 200_000; i++) {
      // Every other id at a time whose 8 time characters are digits (as 2026-12 is, now and then).
      const now =
        i % 2 === 0
          ? EPOCH_MS + Math.floor(Math.random() * 32 ** 8)
          : timeFor(Array.from({ length: 8 }, () => String(Math.floor(Math.random() * 10))).join(''));
      const id = newJobId(now);
      if (/^[0-9]{8}/.test(id)) sawDigitSlot++;
      // Plain checks in the loop (an expect per id is slow); the first bad id fails the test.
      const ok =
        id.length === JOB_ID_LENGTH &&
        /^[0-9a-hjkmnp-tv-z]{12}$/.test(id) &&
        !/^[0-9]+$/.test(id) &&
        isJobId(id) &&
        normalizeJobId(id.toUpperCase()) === id;
      if (!ok) expect.fail(`bad job id ${id} at ${new Date(now).toISOString()}`);
    }
    expect(sawDigitSlot).toBeGreaterThanOrEqual(100_000);
  });

  it('ends with a letter when the clock and every draw give digits', () => {
    const now = timeFor('20000000');
    expect(newJobId(now, zeros)).toBe('20000000000a');
    const id = newJobId(now, digitsOnly);
    expect(id).toBe('20000000777h');
    // The generator's worst case as BullMQ's own check reads it, and as assertJobId does.
    expect(String(Number.parseInt(id, 10)) === id).toBe(false);
    expect(() => assertJobId(id)).not.toThrow();
    // Only the last character is affected: the others stay free.
    expect(newJobId(timeFor('2000000a'), zeros)).toBe('2000000a0000');
  });

  it('is taken by BullMQ as a custom id, while assertJobId refuses what BullMQ refuses', async () => {
    const id = newJobId(timeFor('12345678'), digitsOnly);
    const job = await queue.add('generate', { jobId: id }, { jobId: id });
    expect(job.id).toBe(id);
    expect((await queue.getJob(id))?.data).toEqual({ jobId: id });
    // The ids BullMQ would refuse are still refused before they reach it.
    await expect(queue.add('generate', {}, { jobId: '123456789012' })).rejects.toThrow('Custom Id cannot be integers');
    expect(() => assertJobId('123456789012')).toThrow(InvalidJobIdError);
    expect(() => assertJobId('ab:cdefghij')).toThrow(InvalidJobIdError);
    // An all-digit id with a leading zero does not read as a number: BullMQ and we both accept it.
    expect(() => assertJobId('012345678901')).not.toThrow();
  });
});
