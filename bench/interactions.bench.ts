// Interaction latency of the bot: 100 /imagine within one second from 20 users against the
// local Discord server, a fresh Postgres database and Redis prefix (no worker; a heartbeat
// advertises the demo model). The bot runs as its own process (npm run bot), as deployed. Measures dispatch -> first response at the server; target
// p99 <= 250 ms (Discord's hard limit is 3 s). Needs Postgres and Redis running locally.
import { at } from '../src/checked.js';
import { sendImagineBurst } from '../test/discord/burst.js';
import { percentile } from './stats.js';
import { startHarness } from '../test/discord/harness.js';

const INTERACTIONS = 100;
const USERS = 20;
const SEQUENTIAL = 20;
const TARGET_P99_MS = 250;

export async function run(): Promise<{ name: string; lines: string[]; metrics: Record<string, number> }> {
  const h = await startHarness({ label: 'benchinteractions', config: { DEFAULT_QUOTA: 8, MAX_JOBS_PER_USER: 100 }, botProcess: true });
  try {
    // One warm-up interaction: the first query plans and the first connections are not what users see.
    await sendImagineBurst(h, { interactions: 1, users: 1, windowMs: 0, count: 1 });
    // One at a time: the latency of a single interaction with nothing else going on.
    const single: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++)
      single.push(at((await sendImagineBurst(h, { interactions: 1, users: 1, windowMs: 0, count: 1 })).outcomes, 0).ackMs);
    const { outcomes } = await sendImagineBurst(h, { interactions: INTERACTIONS, users: USERS, windowMs: 1000, count: 2 });
    const acks = outcomes.map((o) => o.ackMs);
    const p50 = percentile(acks, 50);
    const p99 = percentile(acks, 99);
    const max = Math.max(...acks);
    const accepted = outcomes.filter((o) => o.accepted).length;
    const deferred = outcomes.filter((o) => o.callbackType === 5).length;
    return {
      name: 'Interaction latency (bot)',
      lines: [
        `${INTERACTIONS} /imagine within 1 s from ${USERS} users (quota 8 images, 2 per job: 4 accepted and 1 refused per user), dispatch to first response at the local Discord server:`,
        '',
        '| p50 | p99 | max | accepted | refused | deferred |',
        '| --- | --- | --- | --- | --- | --- |',
        `| ${p50.toFixed(1)} ms | ${p99.toFixed(1)} ms | ${max.toFixed(1)} ms | ${accepted} | ${INTERACTIONS - accepted} | ${deferred} |`,
        '',
        `Target p99 <= ${TARGET_P99_MS} ms: ${p99 <= TARGET_P99_MS ? 'met' : 'NOT met'}.`,
        '',
        `One interaction at a time (${SEQUENTIAL} in a row): p50 ${percentile(single, 50).toFixed(1)} ms, max ${Math.max(...single).toFixed(1)} ms.`,
        'Each accepted /imagine commits one transaction before its first response (reservation and job row), so the',
        "database's commit latency (WAL fsync) and the cores shared with Postgres bound the burst numbers.",
      ],
      metrics: { ack_p50_ms: p50, ack_p99_ms: p99, ack_max_ms: max, accepted, deferred, single_ack_p50_ms: percentile(single, 50) },
    };
  } finally {
    await h.close();
  }
}
