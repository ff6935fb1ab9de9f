// The entry points as processes: `npm run commands:deploy` registers the commands, the bot
// refuses to start on a database behind its migrations, and otherwise logs in, answers,
// exits cleanly on SIGTERM, and at once on a second one.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/pg.js';
import { startFakeDiscord, type FakeDiscord } from './discord/server.js';
import { discordEnv, spawnScript, type ScriptProcess } from './discord/harness.js';

let discord: FakeDiscord;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  discord = await startFakeDiscord();
});

afterAll(async () => {
  await discord?.close();
  for (const db of databases) await db.drop();
});

it('commands:deploy registers the commands to DISCORD_GUILD_ID', async () => {
  const run = spawnScript('src/cli/deploy-commands.ts', { ...discordEnv(discord), DISCORD_GUILD_ID: discord.guild.id });
  expect(await run.exited).toBe(0);
  expect(run.lines.join('\n')).toContain(`registered 10 commands to guild ${discord.guild.id}`);
  expect(discord.commands(discord.guild.id).map((c) => c.name)).toContain('imagine');
});

it('refuses to start on a database behind its migrations, naming the command to run', async () => {
  const db = await createTestDatabase('botmainold', { migrate: false });
  databases.push(db);
  const run = spawnScript('src/bot/main.ts', { ...discordEnv(discord), DATABASE_URL: db.url });
  expect(await run.exited).toBe(1);
  expect(run.lines.join('\n')).toContain('npm run db:migrate');
}, 30_000);

it('logs in, answers /quota and /imagine, and exits 0 on SIGTERM', async () => {
  const db = await createTestDatabase('botmain');
  databases.push(db);
  const run = spawnScript('src/bot/main.ts', {
    ...discordEnv(discord),
    DATABASE_URL: db.url,
    REDIS_PREFIX: `tbotmain_${process.pid}`,
    DEFAULT_QUOTA: '12',
  });
  await discord.waitForReady(30_000);
  const handle = await discord.sendCommand({ name: 'quota', user: discord.user('main') });
  await handle.response();
  expect(handle.original()!.content).toContain('Limit: 12 images per day');
  // Redis is reached too: no worker heartbeat exists under this prefix.
  const imagine = await discord.sendCommand({ name: 'imagine', user: discord.user('main2'), options: { prompt: 'x' } });
  await imagine.response();
  expect(imagine.original()!.content).toContain('No worker is running right now');
  await run.stop();
  expect(await run.exited).toBe(0);
}, 40_000);

it('exits 1 at once on a second SIGTERM while an interaction in flight holds up the shutdown', async () => {
  const db = await createTestDatabase('botmainsig');
  databases.push(db);
  const run = spawnScript('src/bot/main.ts', {
    ...discordEnv(discord),
    DATABASE_URL: db.url,
    REDIS_PREFIX: `tbotsig_${process.pid}`,
    LOG_LEVEL: 'info',
  });
  await discord.waitForReady(30_000);
  // With the quota tables locked, the /quota handler waits, and so does a graceful shutdown.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const lock = db.sql.begin(async (tx) => {
    await tx`lock table users, quotas in access exclusive mode`;
    locked();
    await held;
  });
  try {
    await isLocked;
    await discord.sendCommand({ name: 'quota', user: discord.user('stuck') });
    await waitForLockWaiter(db);
    const shuttingDown = waitForOutput(run, '"msg":"shutting down"');
    run.child.kill('SIGTERM');
    await shuttingDown;
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(1);
    expect(run.lines.some((l) => l.includes('second signal while shutting down: exiting now'))).toBe(true);
  } finally {
    release();
    await lock;
  }
}, 40_000);

/** Resolves once a query of the bot waits for a lock in this database: its handler is in flight. */
async function waitForLockWaiter(db: TestDatabase): Promise<void> {
  while ((await db.sql`select 1 from pg_stat_activity where datname = ${db.name} and wait_event_type = 'Lock'`).length === 0) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once the process has printed a line containing `text`. */
function waitForOutput(run: ScriptProcess, text: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!run.lines.some((l) => l.includes(text))) return;
      run.child.stdout!.off('data', check);
      run.child.stderr!.off('data', check);
      resolve();
    };
    // Added after spawnScript's own listeners, so `lines` already holds the new chunk.
    run.child.stdout!.on('data', check);
    run.child.stderr!.on('data', check);
  });
}
