// Queue overhead per job: 100 tiny jobs (1 step, 1 image) one after another through the
// real worker loop (BullMQ on the local Redis, Postgres, the demo model, the local Discord
// server), measuring around the pipeline call so its time is subtracted:
//   enqueue -> start:      enqueueGeneration called .. generate() entered (fetch, claim, request)
//   finish -> delivered:   generate() returned .. the final edit reached Discord (PNG, store, render, upload)
// Targets: p50 <= 20 ms, p99 <= 100 ms for each. Needs Postgres, Redis and models/shapes-demo.
import { join } from 'node:path';
import { silentLogger } from '../src/log.js';
import { advertisedInfo, PipelineHost } from '../src/pipeline/index.js';
import type { ImageGenerator } from '../src/worker/processor.js';
import { GenerationWorker } from '../src/worker/runner.js';
import { DEMO_MODEL, MODELS_DIR, WorkerHarness } from '../test/support/worker-harness.js';
import { percentile } from './stats.js';

const JOBS = 100;
const TARGET_P50_MS = 20;
const TARGET_P99_MS = 100;

export async function run(): Promise<{ name: string; lines: string[]; metrics: Record<string, number> }> {
  const h = await WorkerHarness.start('benchqueue');
  const host = await PipelineHost.start({ modelDir: join(MODELS_DIR, DEMO_MODEL), provider: 'cpu', logger: silentLogger() });
  // Timestamps around each pipeline call, by job (the seed is unique per job).
  const calls = new Map<number, { enteredAt: number; returnedAt: number }>();
  const timed: ImageGenerator & { healthy: boolean } = {
    model: host.model,
    get healthy() {
      return host.healthy;
    },
    ended: host.ended,
    async generate(request, options) {
      const enteredAt = performance.timeOrigin + performance.now();
      const output = await host.generate(request, options);
      calls.set(request.seed, { enteredAt, returnedAt: performance.timeOrigin + performance.now() });
      return output;
    },
  };
  const worker = await GenerationWorker.start({
    ...h.processorDeps('bench:1'),
    generators: new Map([[DEMO_MODEL, timed]]),
    models: [advertisedInfo(host.model)],
    previewIntervalMs: 1500,
  });
  try {
    const user = h.discord.user('bench');
    const toStart: number[] = [];
    const toDelivered: number[] = [];
    for (let i = 0; i < JOBS + 5; i++) {
      const seed = 1000 + i;
      // newJob does what the bot does; enqueuedAt is taken just before enqueueGeneration.
      const { job, enqueuedAt } = await h.newJob({ user, params: { steps: 1, count: 1, seed } });
      const final = await h.discord.waitForRequest(
        (r) =>
          r.method === 'PATCH' &&
          r.path.includes(job.interactionToken!) &&
          JSON.stringify((r.json as { components?: unknown } | undefined)?.components ?? []).includes('Rerun'),
        30_000,
      );
      const call = calls.get(seed)!;
      if (i < 5) continue; // warm-up: first queries, first connections, JIT
      toStart.push(call.enteredAt - enqueuedAt);
      toDelivered.push(final.receivedAt - call.returnedAt);
    }
    const row = (label: string, values: number[]) => {
      const p50 = percentile(values, 50);
      const p99 = percentile(values, 99);
      const met = p50 <= TARGET_P50_MS && p99 <= TARGET_P99_MS ? 'met' : 'NOT met';
      return {
        line: `| ${label} | ${p50.toFixed(1)} ms | ${p99.toFixed(1)} ms | ${Math.max(...values).toFixed(1)} ms | ${met} |`,
        p50,
        p99,
      };
    };
    const start = row('enqueue -> start', toStart);
    const delivered = row('finish -> delivered', toDelivered);
    return {
      name: 'Queue overhead (worker)',
      lines: [
        `${JOBS} jobs (1 step, 1 image, 128x128) one at a time through BullMQ, Postgres and the local Discord server, after 5 warm-up jobs; pipeline time excluded:`,
        '',
        '| span | p50 | p99 | max | target p50 <= 20 ms, p99 <= 100 ms |',
        '| --- | --- | --- | --- | --- |',
        start.line,
        delivered.line,
        '',
        '"finish -> delivered" covers the PNG encoding, storing the image in Postgres, rendering the message and the multipart upload of the final edit.',
      ],
      metrics: { start_p50_ms: start.p50, start_p99_ms: start.p99, delivered_p50_ms: delivered.p50, delivered_p99_ms: delivered.p99 },
    };
  } finally {
    await worker.close(5000);
    await host.close();
    await h.close();
  }
}
