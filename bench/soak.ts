// npm run soak [-- --jobs N]: a long soak of one worker process, not run in CI nor by
// `npm run bench`. N tiny jobs (1 step, 1 image, 128x128; 20,000 by default) from 10 users go
// through a real worker (`src/worker/main.ts`) on Postgres, Redis and the local Discord
// server. Its resident memory (VmRSS, the pipeline thread included) is read after a warm-up
// and after every 1,000 jobs, each time after a full GC of the worker's main thread and of its
// pipeline thread (the worker runs with --expose-gc; the GC is asked for over its inspector).
// Target: less than 1 MiB of growth per 1,000 jobs after the warm-up.
// Needs Postgres, Redis and models/shapes-demo, like the tests.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { at } from '../src/checked.js';
import { ProcessInspector, inspectorUrl } from '../test/support/inspector.js';
import { WorkerHarness } from '../test/support/worker-harness.js';

const USERS = 10;
/** Jobs queued at once: enough to keep the worker busy, few enough to wait for one by one. */
const BATCH = 100;
const TARGET_MIB_PER_1000 = 1;
/** The pipeline thread's script (tsx's module hooks run in a worker thread of their own). */
const PIPELINE_THREAD = /\/pipeline\/(thread-loader\.mjs|host-thread\.js)$/;

function wholeNumber(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name}=${JSON.stringify(text)}: expected a whole number >= ${min}`);
  return value;
}

/** Resident set size of a process in bytes (Linux). */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

const mib = (bytes: number) => bytes / 1024 / 1024;

interface HeapUsage {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Full GC everywhere (twice: finalizers free native memory, such as ONNX tensors, on the second); the heaps after it. */
async function collect(inspector: ProcessInspector): Promise<{ main: HeapUsage; threads: HeapUsage[] }> {
  const expression = 'gc(); gc(); JSON.stringify(process.memoryUsage())';
  const threads = (await inspector.evaluateInThreads(expression, PIPELINE_THREAD)).map((value) => JSON.parse(value as string) as HeapUsage);
  const main = JSON.parse((await inspector.evaluate(expression)) as string) as HeapUsage;
  return { main, threads };
}

interface Reading {
  jobs: number;
  rss: number;
  mainHeap: number;
  threadHeap: number;
  /** V8 heap memory committed by both threads (what of the heaps counts in rss). */
  heapTotal: number;
  external: number;
}

/** Least-squares slope of rss over jobs, in bytes per job. */
function slope(readings: Reading[]): number {
  const n = readings.length;
  const mx = readings.reduce((a, r) => a + r.jobs, 0) / n;
  const my = readings.reduce((a, r) => a + r.rss, 0) / n;
  const sxy = readings.reduce((a, r) => a + (r.jobs - mx) * (r.rss - my), 0);
  const sxx = readings.reduce((a, r) => a + (r.jobs - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string' }, warmup: { type: 'string' } } });
  const total = wholeNumber('jobs', values.jobs, 20_000, 1000);
  const warmup = wholeNumber('warmup', values.warmup, 500, 1);
  if (warmup >= total) throw new Error(`--warmup (${warmup}) must be below --jobs (${total})`);

  const h = await WorkerHarness.start('soak');
  let inspector: ProcessInspector | null = null;
  try {
    const worker = h.spawnWorker({ nodeArgs: ['--expose-gc', '--inspect=127.0.0.1:0'] });
    const listening = await worker.waitForLine((l) => l.includes('Debugger listening on ws://'));
    inspector = await ProcessInspector.connect(inspectorUrl(listening));
    await worker.waitForLine((l) => l.includes('health and metrics listening'), 120_000);
    await inspector.waitForThreads(1, PIPELINE_THREAD);
    const pid = worker.child.pid!;
    const users = Array.from({ length: USERS }, (_, i) => h.discord.user(`soak${i}`));

    const readings: Reading[] = [];
    const read = async (jobs: number) => {
      const heaps = await collect(inspector!);
      await new Promise((r) => setTimeout(r, 200));
      const reading = {
        jobs,
        rss: rssBytes(pid),
        mainHeap: heaps.main.heapUsed,
        threadHeap: heaps.threads.reduce((a, t) => a + t.heapUsed, 0),
        heapTotal: heaps.main.heapTotal + heaps.threads.reduce((a, t) => a + t.heapTotal, 0),
        external: heaps.main.external + heaps.threads.reduce((a, t) => a + t.external, 0),
      };
      readings.push(reading);
      const first = at(readings, 0);
      const per1000 = jobs === first.jobs ? 0 : ((reading.rss - first.rss) / (jobs - first.jobs)) * 1000;
      console.log(
        `${String(jobs).padStart(6)} jobs  rss ${mib(reading.rss).toFixed(1)} MiB  main heap ${mib(reading.mainHeap).toFixed(1)} MiB  pipeline heap ${mib(reading.threadHeap).toFixed(1)} MiB  heaps committed ${mib(reading.heapTotal).toFixed(1)} MiB  external ${mib(reading.external).toFixed(1)} MiB  since warm-up ${mib(reading.rss - first.rss).toFixed(1)} MiB (${mib(per1000).toFixed(2)} MiB per 1,000 jobs)`,
      );
    };

    const startedAt = Date.now();
    let done = 0;
    let nextReading = warmup;
    while (done < total) {
      const batch = [];
      const size = Math.min(BATCH, nextReading - done);
      for (let i = 0; i < size; i++) {
        const n = done + i;
        batch.push((await h.newJob({ user: at(users, n % USERS), params: { steps: 1, count: 1, seed: n } })).job);
      }
      for (const job of batch) await h.waitForDelivery(job.id, 120_000);
      done += size;
      // The local Discord server records every request; the soak does not need them.
      h.discord.requests.length = 0;
      if (done === nextReading) {
        await read(done);
        nextReading = Math.min(total, (Math.floor(done / 1000) + 1) * 1000);
      }
    }
    const growth = mib(slope(readings) * 1000);
    // V8 sizes its heaps up for a while after the warm-up: the second half shows whether it levelled off.
    const secondHalf = readings.slice(Math.floor(readings.length / 2));
    const lateGrowth = secondHalf.length >= 3 ? mib(slope(secondHalf) * 1000) : null;
    console.log(
      `\n${total} jobs in ${((Date.now() - startedAt) / 1000).toFixed(0)} s. Resident memory after the warm-up (${warmup} jobs): ${mib(at(readings, 0).rss).toFixed(1)} MiB; at the end ${mib(at(readings, readings.length - 1).rss).toFixed(1)} MiB.`,
    );
    const late =
      lateGrowth === null ? '' : `, ${lateGrowth.toFixed(2)} MiB over the last ${secondHalf.length} (from ${at(secondHalf, 0).jobs} jobs)`;
    console.log(`Growth per 1,000 jobs (least squares): ${growth.toFixed(2)} MiB over all ${readings.length} readings${late}.`);
    const verdict =
      growth < TARGET_MIB_PER_1000
        ? 'met'
        : lateGrowth !== null && lateGrowth < TARGET_MIB_PER_1000
          ? 'met once it levelled off'
          : 'NOT met';
    console.log(`Target below ${TARGET_MIB_PER_1000} MiB per 1,000 jobs: ${verdict}.`);
  } finally {
    inspector?.close();
    await h.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
