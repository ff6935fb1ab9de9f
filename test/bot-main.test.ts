// The entry points as processes: `npm run commands:deploy` registers the commands, the bot
// refuses to start on a database behind its migrations, and otherwise logs in, answers, and
// exits cleanly on SIGTERM.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/pg.js';
import { startFakeDiscord, type FakeDiscord } from './discord/server.js';
import { discordEnv, spawnScript } from './discord/harness.js';

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
  const run = spawnScript('src/bot/main.ts', { ...discordEnv(discord), DATABASE_URL: db.url, REDIS_PREFIX: `tbotmain_${process.pid}`, DEFAULT_QUOTA: '12' });
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
