// Cancellation fan-out. The bot marks the row cancelled in Postgres first (the source of
// truth: a queued job sees it when picked up), then publishes here so a running job
// stops at its next step instead of at its end.
import type { Redis } from 'ioredis';

export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

/** Tells every worker that `jobId` was cancelled. */
export async function publishCancel(redis: Redis, prefix: string, jobId: string): Promise<void> {
  await redis.publish(cancelChannel(prefix), jobId);
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
