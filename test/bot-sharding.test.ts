// Sharding: the bot runs every gateway shard in its one process (SHARD_COUNT), and the local
// Discord server routes like Discord: a guild's GUILD_CREATE and interactions go only to
// shard (guild_id >> 22) % shard_count, DMs to shard 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { shardOfGuild } from './discord/gateway.js';
import { startHarness, type Harness } from './discord/harness.js';
import { snowflake } from './discord/server.js';

/** Guild ids one millisecond apart: (id >> 22) is the timestamp, so they alternate between 2 shards. */
function guildsOnAlternateShards(count: number): Array<{ id: string }> {
  const start = Date.now() - 60_000;
  return Array.from({ length: count }, (_, i) => ({ id: snowflake(start + i) }));
}

describe('two shards in one process (SHARD_COUNT=2)', () => {
  let h: Harness;

  beforeAll(async () => {
    // max_concurrency 2: both shards identify at once (with 1, discord.js waits 5 s between them).
    h = await startHarness({ label: 'sharding', shardCount: 2, discord: { guilds: guildsOnAlternateShards(4), maxConcurrency: 2 } });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('identifies shards 0 and 1, each getting only its own guilds', () => {
    const sessions = h.discord.gateway.sessions;
    expect(sessions.map((s) => s.shard).sort()).toEqual([
      [0, 2],
      [1, 2],
    ]);
    for (const session of sessions) {
      const own = h.discord.guilds.filter((g) => shardOfGuild(g.id, 2) === session.shard[0]);
      expect(own.length).toBeGreaterThan(0);
      expect(session.dispatched).toEqual(['READY', ...own.map(() => 'GUILD_CREATE')]);
    }
    expect(h.discord.guilds.map((g) => shardOfGuild(g.id, 2)).sort()).toEqual([0, 0, 1, 1]);
  });

  it('answers every interaction exactly once, in each guild and in a DM, each sent on its shard', async () => {
    const user = h.discord.user('sharded');
    const places: Array<string | null> = [...h.discord.guilds.map((g) => g.id), null];
    const handles = [];
    for (const guildId of places) {
      const handle = await h.discord.sendCommand({ name: 'quota', user, guildId });
      await handle.response();
      handles.push(handle);
    }
    for (const [i, handle] of handles.entries()) {
      const callbacks = h.discord.requests.filter(
        (r) => r.method === 'POST' && r.path === `/interactions/${handle.id}/${handle.token}/callback`,
      );
      expect(
        callbacks.map((r) => r.response?.status),
        `interaction ${i}`,
      ).toEqual([204]);
      expect(handle.original()!.content).toContain('Limit: 50 images per day');
    }
    // Shard 0 got the DM and its guilds' interactions, shard 1 its own.
    const interactionsOn = (shard: number) =>
      h.discord.gateway.sessions.find((s) => s.shard[0] === shard)!.dispatched.filter((e) => e === 'INTERACTION_CREATE').length;
    const onShard1 = places.filter((g) => g !== null && shardOfGuild(g, 2) === 1).length;
    expect([interactionsOn(0), interactionsOn(1)]).toEqual([places.length - onShard1, onShard1]);
  });
});

describe('SHARD_COUNT=auto', () => {
  let h: Harness;

  beforeAll(async () => {
    // The bot as a process: SHARD_COUNT=auto is in its environment, where discord.js looks too.
    h = await startHarness({
      label: 'shardauto',
      botProcess: true,
      shardCount: 'auto',
      discord: { guilds: guildsOnAlternateShards(2), recommendedShards: 2, maxConcurrency: 2 },
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('runs the shard count Discord recommends in GET /gateway/bot', async () => {
    expect(h.discord.gateway.sessions.map((s) => s.shard).sort()).toEqual([
      [0, 2],
      [1, 2],
    ]);
    const handle = await h.discord.sendCommand({ name: 'quota', user: h.discord.user('auto'), guildId: at(h.discord.guilds, 1).id });
    await handle.response();
    expect(handle.original()!.content).toContain('Limit: 50 images per day');
  });
});
