// A burst of /imagine interactions from several users, spread evenly over a window, as the
// load test and bench/interactions.bench.ts send it. Returns how each one was answered.
import { at } from '../../src/checked.js';
import type { Harness } from './harness.js';
import type { FakeUser, StoredMessage } from './server.js';

export interface BurstOptions {
  interactions: number;
  users: number;
  /** The interactions are dispatched evenly over this many milliseconds. */
  windowMs: number;
  /** Images per job. */
  count: number;
}

export interface BurstOutcome {
  user: FakeUser;
  /** Dispatch to the first response arriving at the server, in ms. */
  ackMs: number;
  callbackType: number;
  /** The answer the user sees (the response, or the follow-up that replaced it). */
  message: StoredMessage;
  accepted: boolean;
}

export async function sendImagineBurst(h: Harness, options: BurstOptions): Promise<{ users: FakeUser[]; outcomes: BurstOutcome[] }> {
  const users = Array.from({ length: options.users }, (_, i) => h.discord.user(`burst${i}`));
  const gapMs = options.windowMs / options.interactions;
  const runs = Array.from({ length: options.interactions }, async (_, i): Promise<BurstOutcome> => {
    await new Promise((r) => setTimeout(r, i * gapMs));
    const user = at(users, i % users.length);
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: { prompt: `burst ${i}`, count: options.count, steps: 4 },
    });
    const callback = await handle.response(10_000);
    if (callback.json.type === 5) {
      await h.discord.messages.waitFor((m) => m.interactionToken === handle.token && !m.deleted && (m.flags & 128) === 0);
    }
    const followUps = handle.followUps();
    const message = followUps.at(-1) ?? handle.original();
    if (message === undefined) throw new Error(`burst interaction ${i} got no answer message`);
    return {
      user,
      ackMs: callback.receivedAt - handle.sentAt,
      callbackType: callback.json.type,
      message,
      accepted: /queued/.test(message.content) && (message.flags & 64) === 0,
    };
  });
  return { users, outcomes: await Promise.all(runs) };
}
