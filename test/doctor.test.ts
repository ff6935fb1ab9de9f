// npm run doctor against the machine's Postgres and Redis, a tiny ONNX model, a private
// redis-server for the failure cases, and a small local stand-in for Discord's /users/@me.
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { type CheckResult, formatResult, runDoctor } from '../src/cli/doctor.js';
import { DEMO_MODEL } from './discord/harness.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';
import { dropPrefix, freshPrefix, SHARED_REDIS_URL, startPrivateRedis, type PrivateRedis } from './support/redis.js';

const ROOT = join(import.meta.dirname, '..');
const BOT_ID = '223456789012345678';
const GOOD_TOKEN = `${'MjIzNDU2Nzg5MDEyMzQ1Njc4'}.GdOcTr.${'d'.repeat(38)}`;

let current: TestDatabase;
let behind: TestDatabase;
let privateRedis: PrivateRedis;
let sharedRedis: Redis;
let discord: Server;
let discordBase: string;
const prefix = freshPrefix('doctor');

beforeAll(async () => {
  [current, behind, privateRedis] = await Promise.all([
    createTestDatabase('doctor'),
    createTestDatabase('doctor_behind', { migrate: false }),
    startPrivateRedis(),
  ]);
  sharedRedis = new Redis(SHARED_REDIS_URL);
  discord = createServer((req, res) => {
    if (req.url !== '/api/v10/users/@me') return void res.writeHead(404).end();
    if (req.headers.authorization !== `Bot ${GOOD_TOKEN}`)
      return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"401: Unauthorized","code":0}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: BOT_ID, username: 'imagine-test', bot: true }));
  });
  await new Promise<void>((resolve) => discord.listen(0, '127.0.0.1', resolve));
  discordBase = `http://127.0.0.1:${(discord.address() as AddressInfo).port}/api`;
});

afterAll(async () => {
  await dropPrefix(sharedRedis, prefix);
  sharedRedis.disconnect();
  await Promise.all([current?.drop(), behind?.drop(), privateRedis?.destroy(), new Promise((r) => discord.close(r))]);
});

async function doctor(env: NodeJS.ProcessEnv): Promise<{ results: CheckResult[]; text: string; byName: Map<string, CheckResult> }> {
  const lines: string[] = [];
  const results = await runDoctor({ env, out: { write: (t: string) => void lines.push(t) }, timeoutMs: 3000 });
  return { results, text: lines.join(''), byName: new Map(results.map((r) => [r.name, r])) };
}

const healthyEnv = (): NodeJS.ProcessEnv => ({
  DATABASE_URL: current.url,
  REDIS_URL: SHARED_REDIS_URL,
  REDIS_PREFIX: prefix,
  // A real ONNX export, tiny: loads and runs a step in well under a second.
  MODELS_DIR: join(ROOT, 'test', 'fixtures', 'onnx-variants'),
  WORKER_MODELS: 'timestep-float32-1',
  DEFAULT_MODEL: 'timestep-float32-1',
  EXECUTION_PROVIDER: 'cpu',
  DISCORD_TOKEN: GOOD_TOKEN,
  DISCORD_APPLICATION_ID: BOT_ID,
  DISCORD_API_BASE: discordBase,
});

describe('npm run doctor', () => {
  it('passes a healthy setup on the local services, warning that this Redis has no persistence', async () => {
    await sharedRedis.set(
      `${prefix}:worker:doctor-test:1`,
      JSON.stringify({
        id: 'doctor-test:1',
        models: [{ ...DEMO_MODEL, name: 'timestep-float32-1' }],
        startedAt: Date.now(),
        lastJobAt: null,
      }),
      'EX',
      30,
    );
    const { results, text, byName } = await doctor(healthyEnv());
    expect(results.map((r) => `${r.status} ${r.name}`)).toEqual([
      'ok config',
      'ok postgres',
      'ok migrations',
      'ok redis',
      'ok redis-memory',
      'warn redis-persist',
      'ok workers',
      'ok model timestep-float32-1',
      'ok discord',
    ]);
    expect(byName.get('postgres')?.detail).toMatch(/^PostgreSQL \d+/);
    expect(byName.get('redis-persist')?.detail).toBe(
      'no persistence: a Redis restart empties the queues (redis-server --appendonly yes --appendfsync everysec)',
    );
    expect(byName.get('workers')?.detail).toBe('1 live, serving timestep-float32-1');
    expect(byName.get('model timestep-float32-1')?.detail).toMatch(/^cpu, 64x64, loaded in \d+\.\d s, one 1-step image in \d+ ms$/);
    expect(byName.get('discord')?.detail).toBe(`logged in as imagine-test (${BOT_ID})`);
    // One line per check, as printed.
    expect(text.trimEnd().split('\n')).toEqual(results.map(formatResult));
    expect(text).not.toContain(GOOD_TOKEN);
  });

  it('fails on pending migrations, an evicting Redis, a missing model and a rejected token', async () => {
    const redis = new Redis(privateRedis.url);
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    redis.disconnect();
    const { byName } = await doctor({
      ...healthyEnv(),
      DATABASE_URL: behind.url,
      REDIS_URL: privateRedis.url,
      WORKER_MODELS: 'no-such-model',
      DISCORD_TOKEN: 'x'.repeat(40),
    });
    expect(byName.get('migrations')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('run `npm run db:migrate`') });
    expect(byName.get('redis-memory')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/^maxmemory-policy is allkeys-lru: BullMQ needs noeviction/),
    });
    expect(byName.get('redis-persist')).toEqual({ name: 'redis-persist', status: 'ok', detail: 'AOF on (appendfsync always)' });
    expect(byName.get('workers')?.status).toBe('warn');
    expect(byName.get('model no-such-model')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining(join(ROOT, 'test', 'fixtures', 'onnx-variants', 'no-such-model')),
    });
    expect(byName.get('discord')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining('Discord rejected DISCORD_TOKEN (401)'),
    });
  });

  it('fails clearly when Postgres, Redis and Discord cannot be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const { byName } = await doctor({
      ...healthyEnv(),
      DATABASE_URL: 'postgres://postgres:secret-pw@127.0.0.1:1/imagine',
      REDIS_URL: 'redis://127.0.0.1:1',
      WORKER_MODELS: 'no-such-model',
      DISCORD_API_BASE: `http://127.0.0.1:${closedPort}/api`,
    });
    expect(byName.get('postgres')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/^cannot use 127\.0\.0\.1:1\/imagine: /),
    });
    expect(byName.get('postgres')?.detail).not.toContain('secret-pw');
    expect(byName.get('migrations')).toMatchObject({ status: 'FAIL', detail: 'not checked: Postgres is unreachable' });
    expect(byName.get('redis')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/^cannot use 127\.0\.0\.1:1: /) });
    expect(byName.has('redis-memory')).toBe(false);
    expect(byName.get('discord')).toEqual({
      name: 'discord',
      status: 'FAIL',
      detail: `cannot reach 127.0.0.1:${closedPort}/api: fetch failed (connect ECONNREFUSED 127.0.0.1:${closedPort})`,
    });
  });

  it('warns about a CPU fallback, a token of another application and a missing token', async () => {
    // This machine has no GPU (onnxruntime-node is installed without its CUDA provider).
    const { byName } = await doctor({ ...healthyEnv(), EXECUTION_PROVIDER: 'auto', DISCORD_APPLICATION_ID: '323456789012345678' });
    expect(byName.get('model timestep-float32-1')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/^cpu, 64x64, .* \(EXECUTION_PROVIDER=auto found no CUDA: running on CPU\)$/),
    });
    expect(byName.get('discord')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('but DISCORD_APPLICATION_ID is 323456789012345678'),
    });
    const missing = await doctor({ ...healthyEnv(), WORKER_MODELS: 'no-such-model', DISCORD_TOKEN: '' });
    expect(missing.byName.get('discord')?.status).toBe('warn');
  });

  it('stops after a configuration it cannot read, naming every bad variable', async () => {
    const { results } = await doctor({ REDIS_URL: 'http://nope', DEFAULT_QUOTA: '-3' });
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ name: 'config', status: 'FAIL' });
    expect(at(results, 0).detail).toContain('REDIS_URL="http://nope": expected a URL starting with redis:// or rediss://');
    expect(at(results, 0).detail).toContain('DEFAULT_QUOTA="-3": expected a whole number between 0 and 1000000');
  });

  it('exits 1 from the command line when a check fails', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/doctor.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, REDIS_URL: 'http://nope' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stdout).toMatch(/^FAIL config {11}REDIS_URL="http:\/\/nope"/);
    expect(run.stdout).toContain('1 failed, 0 warnings, 0 ok');
    expect(run.status).toBe(1);
  });
});
