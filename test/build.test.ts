// The compiled build (`npm run build`, dist/) as production runs it: plain node, no
// TypeScript loader anywhere (the pipeline thread included), migrations found from dist/,
// and the bot and the worker refusing a bad configuration the same way.
import { execFile, type ExecFileException } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; `cwd` defaults to a scratch folder, so no .env is read. */
function run(command: string, args: string[], env: Record<string, string>, cwd = scratch): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env } },
      (error: ExecFileException | null, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

let scratch: string;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imagine-build-'));
  const build = await run('npm', ['run', '--silent', 'build'], {}, ROOT);
  expect(build.stderr.replace(/^npm warn .*\n/gm, '')).toBe('');
  expect(build.code).toBe(0);
}, 120_000);

afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  for (const db of databases) await db.drop();
});

describe('dist/', () => {
  it('holds the pipeline thread as JavaScript and nothing that needs tsx', () => {
    expect(existsSync(join(ROOT, 'dist/pipeline/host-thread.js'))).toBe(true);
    expect(existsSync(join(ROOT, 'dist/pipeline/thread-loader.mjs'))).toBe(false);
  });

  it('start:imagine generates from the demo model with plain node', async () => {
    const out = join(scratch, 'grid.png');
    const result = await run(
      process.execPath,
      [
        join(ROOT, 'dist/cli/imagine.js'),
        'a red circle on a blue background',
        '--count',
        '2',
        '--steps',
        '4',
        '--model',
        join(ROOT, 'models/shapes-demo'),
        '--out',
        out,
      ],
      {},
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/2 image\(s\) 128x128, 4 steps, .* shapes-demo on cpu/);
    expect([out, join(scratch, 'grid-1.png'), join(scratch, 'grid-2.png')].map(existsSync)).toEqual([true, true, true]);
  });

  it('start:migrate finds the migrations from dist/', async () => {
    const db = await createTestDatabase('buildmigrate', { migrate: false });
    databases.push(db);
    const result = await run(process.execPath, [join(ROOT, 'dist/cli/migrate.js')], { DATABASE_URL: db.url });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^applied [1-9]\d* migration\(s\) to /);
  });

  it.each(['bot', 'worker'])('the %s exits 2 with one stderr line naming every configuration problem', async (name) => {
    const result = await run(process.execPath, [join(ROOT, `dist/${name}/main.js`)], { WORKER_CONCURRENCY: 'many' });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${name}: invalid configuration: WORKER_CONCURRENCY="many": expected a whole number between 1 and 16\n`);
    const missing = await run(process.execPath, [join(ROOT, `dist/${name}/main.js`)], {});
    expect([missing.code, missing.stderr]).toEqual([
      2,
      `${name}: invalid configuration: DISCORD_TOKEN is required but not set; DISCORD_APPLICATION_ID is required but not set\n`,
    ]);
  });
});
