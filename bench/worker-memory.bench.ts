// Worker memory over time: a real worker process (`src/worker/main.ts`) runs 500 tiny jobs
// (1 step, 1 image) and its resident memory is read after 10, 100 and 500 jobs. Target:
// flat within 10% after warm-up (from 100 to 500 jobs). Needs Postgres, Redis and
// models/shapes-demo.
import { readFileSync } from 'node:fs';
import { at } from '../src/checked.js';
import { WorkerHarness } from '../test/support/worker-harness.js';

const MILESTONES = [10, 100, 500];
const USERS = 10;
const TARGET_GROWTH = 0.1;

/** Resident set size of a process in bytes (Linux). */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

export async function run(): Promise<{ name: string; lines: string[]; metrics: Record<string, number> }> {
  const h = await WorkerHarness.start('benchmemory');
  try {
    const worker = h.spawnWorker();
    await worker.ready;
    const pid = worker.child.pid!;
    const users = Array.from({ length: USERS }, (_, i) => h.discord.user(`mem${i}`));
    const rss = new Map<number, number>();
    const rssAt = (jobs: number): number => {
      const bytes = rss.get(jobs);
      if (bytes === undefined) throw new Error(`no reading after ${jobs} jobs`);
      return bytes;
    };
    let created = 0;
    const startedAt = Date.now();
    const afterStart = rssBytes(pid);
    for (const milestone of MILESTONES) {
      const batch = [];
      for (; created < milestone; created++) {
        batch.push((await h.newJob({ user: at(users, created % USERS), params: { steps: 1, count: 1, seed: created } })).job);
      }
      for (const job of batch) await h.waitForDelivery(job.id, 120_000);
      // Let timers and the allocator settle a moment before reading.
      await new Promise((r) => setTimeout(r, 500));
      rss.set(milestone, rssBytes(pid));
    }
    const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
    const growth = (rssAt(500) - rssAt(100)) / rssAt(100);
    return {
      name: 'Worker memory',
      lines: [
        `One worker process, ${MILESTONES.at(-1)} jobs of 1 step and 1 image (128x128) from ${USERS} users, in ${((Date.now() - startedAt) / 1000).toFixed(0)} s; resident memory (VmRSS, the pipeline thread included):`,
        '',
        '| after start | after 10 jobs | after 100 jobs | after 500 jobs | growth 100 -> 500 |',
        '| --- | --- | --- | --- | --- |',
        `| ${mib(afterStart)} MiB | ${mib(rssAt(10))} MiB | ${mib(rssAt(100))} MiB | ${mib(rssAt(500))} MiB | ${(growth * 100).toFixed(1)}% |`,
        '',
        `Target: flat within ${TARGET_GROWTH * 100}% after warm-up (100 -> 500 jobs): ${Math.abs(growth) <= TARGET_GROWTH ? 'met' : 'NOT met'}.`,
      ],
      metrics: {
        rss_start_mib: afterStart / 1048576,
        rss_10_mib: rssAt(10) / 1048576,
        rss_100_mib: rssAt(100) / 1048576,
        rss_500_mib: rssAt(500) / 1048576,
        growth_100_500_pct: growth * 100,
      },
    };
  } finally {
    await h.close();
  }
}
