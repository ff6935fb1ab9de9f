import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GenerationQueues,
  Heartbeat,
  InvalidJobIdError,
  InvalidModelNameError,
  enqueueGeneration,
  fairPriority,
  liveModels,
  modelForQueueName,
  publishCancel,
  queueNameForModel,
  subscribeCancels,
} from '../src/queue/index.js';
import type { ModelInfo } from '../src/contract/index.js';
import { SHARED_REDIS_URL, dropPrefix, freshPrefix, startPrivateRedis, type PrivateRedis } from './support/redis.js';

const demo: ModelInfo = {
  name: 'shapes-demo',
  nativeWidth: 128,
  nativeHeight: 128,
  sizeMultiple: 64,
  fixedSize: null,
  defaultSampler: 'euler',
  samplers: ['euler', 'ddim'],
  supportsImg2Img: true,
};
const other: ModelInfo = { ...demo, name: 'other-model' };

describe('queue contract', () => {
  const prefix = freshPrefix('queue');
  let redis: Redis;
  let queues: GenerationQueues;

  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: null });
    queues = new GenerationQueues({ connection: redis, prefix, attempts: 2, backoffMs: 10 });
  });

  afterAll(async () => {
    await queues.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('names one queue per model and rejects names BullMQ cannot take', () => {
    expect(queueNameForModel('shapes-demo')).toBe('gen-shapes-demo');
    expect(() => queueNameForModel('a:b')).toThrow(InvalidModelNameError);
    expect(() => queueNameForModel('')).toThrow(InvalidModelNameError);
    expect(modelForQueueName('gen-shapes-demo')).toBe('shapes-demo');
    expect(modelForQueueName('other')).toBeNull();
  });

  it('gives a user first job priority 1 and later ones lower priority', () => {
    expect(fairPriority(1)).toBe(1);
    expect(fairPriority(0)).toBe(1);
    expect(fairPriority(3)).toBe(3);
  });

  it('stores only the job id, uses it as the BullMQ id and ignores a second enqueue', async () => {
    await enqueueGeneration(queues, { jobId: 'abc123def4', model: 'shapes-demo', userActiveJobs: 2 });
    await enqueueGeneration(queues, { jobId: 'abc123def4', model: 'shapes-demo', userActiveJobs: 1 });
    const queue = queues.forModel('shapes-demo');
    const job = await queue.getJob('abc123def4');
    expect(job?.data).toEqual({ jobId: 'abc123def4' });
    expect(job?.name).toBe('generate');
    expect(job?.opts.priority).toBe(2);
    expect(job?.opts.attempts).toBe(2);
    const { prioritized = 0, wait = 0 } = await queue.getJobCounts('prioritized', 'wait');
    expect(prioritized + wait).toBe(1);
    await queue.obliterate({ force: true });
  });

  it('rejects job ids BullMQ would misread', async () => {
    await expect(enqueueGeneration(queues, { jobId: '1234567', model: 'shapes-demo', userActiveJobs: 1 })).rejects.toThrow(
      InvalidJobIdError,
    );
    await expect(enqueueGeneration(queues, { jobId: 'ab:cdefg', model: 'shapes-demo', userActiveJobs: 1 })).rejects.toThrow(
      InvalidJobIdError,
    );
  });

  it("serves another user's first job before a burst's later jobs", async () => {
    const model = 'fairness';
    // user A: three jobs in flight; user B: one, enqueued last.
    await enqueueGeneration(queues, { jobId: 'usera00001', model, userActiveJobs: 1 });
    await enqueueGeneration(queues, { jobId: 'usera00002', model, userActiveJobs: 2 });
    await enqueueGeneration(queues, { jobId: 'usera00003', model, userActiveJobs: 3 });
    await enqueueGeneration(queues, { jobId: 'userb00001', model, userActiveJobs: 1 });
    const order: string[] = [];
    const connection = redis.duplicate();
    const worker = new Worker(
      queueNameForModel(model),
      (job) => {
        if (job.id === undefined) throw new Error('a job without an id');
        order.push(job.id);
        return Promise.resolve();
      },
      { connection, prefix, concurrency: 1 },
    );
    await new Promise<void>((resolve) => worker.on('drained', () => resolve()));
    await worker.close();
    connection.disconnect();
    expect(order).toEqual(['usera00001', 'userb00001', 'usera00002', 'usera00003']);
  });

  it('lists the models of live workers only, and forgets a stopped worker', async () => {
    const a = new Heartbeat({ redis, prefix, workerId: 'host-a:1', models: [demo], ttlMs: 1000, intervalMs: 200 });
    const b = new Heartbeat({ redis, prefix, workerId: 'host-b:2', models: [demo, other], ttlMs: 1000, intervalMs: 200 });
    await a.start();
    await b.start();
    expect((await liveModels(redis, prefix)).map((m) => m.name)).toEqual(['other-model', 'shapes-demo']);
    expect((await liveModels(redis, prefix))[1]).toEqual(demo);
    await b.stop();
    expect((await liveModels(redis, prefix)).map((m) => m.name)).toEqual(['shapes-demo']);
    await a.stop();
    expect(await liveModels(redis, prefix)).toEqual([]);
  });

  it('drops a dead worker once its TTL passes', async () => {
    const dead = new Heartbeat({ redis, prefix, workerId: 'host-c:3', models: [other], ttlMs: 1000, intervalMs: 500 });
    await dead.beat(); // one beat, never refreshed: like a worker killed right after it
    expect((await liveModels(redis, prefix)).map((m) => m.name)).toEqual(['other-model']);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await liveModels(redis, prefix)).toEqual([]);
  });

  it('delivers published cancellations to subscribers', async () => {
    const seen: string[] = [];
    let gotTwo!: () => void;
    const two = new Promise<void>((resolve) => (gotTwo = resolve));
    const unsubscribe = await subscribeCancels(redis, prefix, (jobId) => {
      if (seen.push(jobId) === 2) gotTwo();
    });
    await publishCancel(redis, prefix, 'job0000001');
    await publishCancel(redis, freshPrefix('elsewhere'), 'job0000002');
    await publishCancel(redis, prefix, 'job0000003');
    // Redis delivers in publishing order: had job0000002 leaked through, it would be second.
    await two;
    await unsubscribe();
    expect(seen).toEqual(['job0000001', 'job0000003']);
  });
});

describe('cancel publishing while Redis is briefly away', () => {
  let server: PrivateRedis;
  let bot: Redis;

  beforeAll(async () => {
    server = await startPrivateRedis();
    // The bot's connection: commands fail at once while Redis is away, nothing is queued.
    bot = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 50 });
    bot.on('error', () => {});
  }, 60_000);

  afterAll(async () => {
    bot?.disconnect();
    await server?.destroy();
  });

  it('tries again with a short backoff and gets through once Redis is back', async () => {
    await server.stop('SIGKILL');
    await expect(publishCancel(bot, 'away', 'job0000001', { attempts: 1 })).rejects.toThrow();
    const publishing = publishCancel(bot, 'away', 'job0000002', { attempts: 8, backoffMs: 100 });
    const startedAt = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    await server.start();
    await publishing;
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
  });
});
