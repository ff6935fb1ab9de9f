// A Redis lease: one holder at a time for a key, for a bounded time. Taken with SET NX PX,
// kept by renewing before it runs out, released by its holder only (each holder has its own
// token, so a holder whose lease expired and was taken over cannot renew or delete the new
// holder's). A holder that dies simply stops renewing: the lease frees itself after ttlMs.
// Used for the delivery claim of a job and for the reconciler's leader.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// KEYS[1] the lease, ARGV[1] the token, ARGV[2] the ttl: renew if ours, else take it if free.
const ACQUIRE_OR_RENEW = `
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0`;

const RENEW = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;

export interface LeaseOptions {
  redis: Redis;
  key: string;
  /** How long the lease lives without a renewal. */
  ttlMs: number;
  /** Who holds it (the worker id), readable in Redis; a random suffix makes the token unique. */
  owner: string;
}

export class Lease {
  readonly key: string;
  readonly ttlMs: number;
  /** The value stored under the key while this object holds the lease. */
  readonly token: string;
  private readonly redis: Redis;

  constructor(options: LeaseOptions) {
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 100)
      throw new RangeError(`ttlMs must be a whole number >= 100, got ${options.ttlMs}`);
    this.redis = options.redis;
    this.key = options.key;
    this.ttlMs = options.ttlMs;
    this.token = `${options.owner}#${randomBytes(6).toString('hex')}`;
  }

  /** Takes the lease if it is free, or renews it if this object holds it. True when held now. */
  async acquire(): Promise<boolean> {
    return (await this.redis.eval(ACQUIRE_OR_RENEW, 1, this.key, this.token, this.ttlMs)) === 1;
  }

  /** Extends the lease by ttlMs; false when it is no longer ours (expired, taken over, flushed). */
  async renew(): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, this.key, this.token, this.ttlMs)) === 1;
  }

  /** Gives the lease up if it is still ours; true when it was. */
  async release(): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 1, this.key, this.token)) === 1;
  }

  /**
   * Renews the lease every ttlMs / 3 until the returned function is called: for work that may
   * outlast one ttl. Renewal errors (Redis briefly down) are left to the next renewal.
   */
  keepAlive(): () => void {
    const timer = setInterval(() => void this.renew().catch(() => undefined), Math.max(50, Math.floor(this.ttlMs / 3)));
    timer.unref();
    return () => clearInterval(timer);
  }
}
