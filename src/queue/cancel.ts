// Cancellation fan-out. The bot marks the row cancelled in Postgres first (the source of
// truth: a queued job sees it when picked up, a running one before its next preview), then
// publishes here, before it touches Discord, so a running job stops at its next step.
import type { Redis } from 'ioredis';

export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

export interface PublishCancelOptions {
  /** Tries in all, for a Redis that is briefly unreachable. @defaultValue 4 */
  attempts?: number;
  /** Wait after the first failed try; it doubles after each further one. @defaultValue 100 */
  backoffMs?: number;
}

/**
 * Tells every worker that `jobId` was cancelled, trying again with a short backoff while
 * Redis does not answer (about 0.7 s in all by default, inside Discord's 3 s). A worker that
 * misses it anyway sees the cancel in Postgres before its next preview.
 */
export async function publishCancel(redis: Redis, prefix: string, jobId: string, options: PublishCancelOptions = {}): Promise<void> {
  const { attempts = 4, backoffMs = 100 } = options;
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be a whole number >= 1, got ${attempts}`);
  for (let attempt = 1; ; attempt++) {
    try {
      await redis.publish(cancelChannel(prefix), jobId);
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)));
    }
  }
}

/**
 * Calls `onCancel(jobId)` for every cancellation published from now on. Uses its own
 * duplicate of `redis` (a subscribed connection can do nothing else); the returned
 * function unsubscribes and closes it.
 */
export async function subscribeCancels(
  redis: Redis,
  prefix: string,
  onCancel: (jobId: string) => void,
  onError: (err: unknown) => void = () => {},
): Promise<() => Promise<void>> {
  const subscriber = redis.duplicate();
  const channel = cancelChannel(prefix);
  subscriber.on('message', (from: string, jobId: string) => {
    if (from === channel) onCancel(jobId);
  });
  // ioredis reconnects and resubscribes by itself; errors are only worth a log line.
  subscriber.on('error', onError);
  await subscriber.subscribe(channel);
  return async () => {
    await subscriber.unsubscribe(channel).catch(() => {});
    subscriber.disconnect();
  };
}
