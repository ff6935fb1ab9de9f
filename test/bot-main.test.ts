// The entry points as processes: `npm run commands:deploy` registers the commands, the bot
// refuses to start on a database behind its migrations, and otherwise logs in, answers, and
// exits cleanly on SIGTERM.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/pg.js';
import { startFakeDiscord, type FakeDiscord } from './discord/server.js';

const ROOT = join(import.meta.dirname, '..');
let discord: FakeDiscord;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  discord = await startFakeDiscord();
});

afterAll(async () => {
  await discord?.close();
  for (const db of databases) await db.drop();
});

function start(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, DISCORD_TOKEN: discord.botToken, DISCORD_APPLICATION_ID: discord.applicationId, DISCORD_API_BASE: discord.apiBase, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

it('commands:deploy registers the commands to DISCORD_GUILD_ID', async () => {
  const run = start('src/cli/deploy-commands.ts', { DISCORD_GUILD_ID: discord.guild.id });
  expect(await run.exited).toBe(0);
  expect(run.output()).toContain(`registered 8 commands to guild ${discord.guild.id}`);
  expect(discord.commands(discord.guild.id).map((c) => c.name)).toContain('imagine');
});

it('refuses to start on a database behind its migrations, naming the command to run', async () => {
  const db = await createTestDatabase('botmainold', { migrate: false });
  databases.push(db);
  const run = start('src/bot/main.ts', { DATABASE_URL: db.url });
  expect(await run.exited).toBe(1);
  expect(run.output()).toContain('npm run db:migrate');
}, 30_000);

it('logs in, answers /quota and /imagine, and exits 0 on SIGTERM', async () => {
  const db = await createTestDatabase('botmain');
  databases.push(db);
  const run = start('src/bot/main.ts', { DATABASE_URL: db.url, REDIS_PREFIX: `tbotmain_${process.pid}`, DEFAULT_QUOTA: '12' });
  await discord.waitForReady(30_000);
  const handle = await discord.sendCommand({ name: 'quota', user: discord.user('main') });
  await handle.response();
  expect(handle.original()!.content).toContain('Limit: 12 images per day');
  // Redis is reached too: no worker heartbeat exists under this prefix.
  const imagine = await discord.sendCommand({ name: 'imagine', user: discord.user('main2'), options: { prompt: 'x' } });
  await imagine.response();
  expect(imagine.original()!.content).toContain('No worker is running right now');
  run.child.kill('SIGTERM');
  expect(await run.exited).toBe(0);
}, 40_000);
