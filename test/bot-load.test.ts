// 100 /imagine within one second from 20 users: every one acknowledged within 3 s, quotas
// exact, no unhandled rejection. The bot runs as its own process, as deployed; the bot
// process logs (and survives) any unhandled rejection, and this test fails on any log line
// at warn or above. Timings go to bench/interactions.bench.ts.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { getQuota, ledgerTotals } from '../src/db/index.js';
import { sendImagineBurst } from './discord/burst.js';
import { startHarness, type Harness } from './discord/harness.js';

const QUOTA = 8;
const COUNT = 2;

let h: Harness;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  h = await startHarness({ label: 'load', config: { DEFAULT_QUOTA: QUOTA, MAX_JOBS_PER_USER: 100 }, botProcess: true });
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await h?.close();
});

it('acknowledges 100 interactions from 20 users within 3 s each and charges quotas exactly', async () => {
  const { users, outcomes } = await sendImagineBurst(h, { interactions: 100, users: 20, windowMs: 1000, count: COUNT });
  expect(outcomes).toHaveLength(100);
  for (const o of outcomes) expect(o.ackMs).toBeLessThan(3000);
  expect(unhandled).toEqual([]);
  // The bot logs unhandled rejections and internal errors at error level, refusals below warn.
  expect(h.bot.lines.filter((line) => /"level":(40|50|60)/.test(line))).toEqual([]);
  // 5 requests of 2 images per user against a quota of 8: exactly 4 accepted, 1 refused.
  for (const user of users) {
    const mine = outcomes.filter((o) => o.user === user);
    expect(mine.filter((o) => o.accepted)).toHaveLength(QUOTA / COUNT);
    const refused = mine.filter((o) => !o.accepted);
    expect(refused).toHaveLength(1);
    expect(at(refused, 0).message.content).toMatch(/You have no quota left/);
    const quota = await getQuota(h.pg.db, user.id, { defaultLimit: QUOTA });
    expect(quota.used).toBe(QUOTA);
    expect(await ledgerTotals(h.pg.db, user.id)).toEqual({ used: QUOTA, bonus: 0 });
  }
  const queued = await h.context.queues.forModel('shapes-demo').getJobCounts('prioritized', 'waiting');
  const { prioritized = 0, waiting = 0 } = queued;
  expect(prioritized + waiting).toBe(80);
}, 60_000);
