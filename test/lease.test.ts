// The Redis lease behind the delivery claim and the reconciler's leader, on the shared Redis
// under a fresh prefix.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lease } from '../src/queue/index.js';
import { SHARED_REDIS_URL, dropPrefix, freshPrefix } from './support/redis.js';

let redis: Redis;
const prefix = freshPrefix('lease');

beforeAll(() => {
  redis = new Redis(SHARED_REDIS_URL);
});

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
const lease = (owner: string, ttlMs = 1000, key = `${prefix}:l${n}`) => new Lease({ redis, key, ttlMs, owner });

describe('Lease', () => {
  it('has one holder at a time; the holder renews, the other cannot', async () => {
    n++;
    const [a, b] = [lease('a'), lease('b')];
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.acquire()).toBe(true); // a renewal for its holder
    expect(await b.renew()).toBe(false);
    expect(await a.renew()).toBe(true);
    expect(await redis.get(a.key)).toBe(a.token);
    expect(a.token).toMatch(/^a#[0-9a-f]{12}$/);
  });

  it('is released by its holder only, then free for anyone', async () => {
    n++;
    const [a, b] = [lease('a'), lease('b')];
    await a.acquire();
    expect(await b.release()).toBe(false);
    expect(await redis.get(a.key)).toBe(a.token);
    expect(await a.release()).toBe(true);
    expect(await b.acquire()).toBe(true);
  });

  it('frees itself when its holder stops renewing, and the old holder cannot take back or delete the new one', async () => {
    n++;
    const [dead, next] = [lease('dead', 300), lease('next', 300)];
    await dead.acquire();
    await sleep(400);
    expect(await next.acquire()).toBe(true);
    expect(await dead.renew()).toBe(false);
    expect(await dead.release()).toBe(false);
    expect(await redis.get(next.key)).toBe(next.token);
  });

  it('stays held past its ttl while kept alive, and frees itself after', async () => {
    n++;
    const [a, b] = [lease('a', 300), lease('b', 300)];
    await a.acquire();
    const stop = a.keepAlive();
    await sleep(900);
    expect(await b.acquire()).toBe(false);
    stop();
    await sleep(400);
    expect(await b.acquire()).toBe(true);
  });

  it('refuses a ttl too short to renew', () => {
    expect(() => lease('a', 10)).toThrow('ttlMs must be a whole number >= 100, got 10');
  });
});
