// A fresh, migrated Postgres database per test file, so test files can run in parallel.
//   const pg = await createTestDatabase('worker');   // in beforeAll
//   ... pg.db, pg.sql, pg.url ...
//   await pg.drop();                                  // in afterAll
// And a private Postgres cluster (own data directory and port) for tests that stop and
// restart Postgres: the machine's shared server is never restarted.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { runMigrations } from '../../src/db/migrate.js';
import { freePort } from './ports.js';

export const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase extends DbHandle {
  /** The new database's URL (give it to code under test that opens its own connections). */
  url: string;
  name: string;
  /** Closes this handle and drops the database (even if other connections are still open). */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Apply the migrations. Default true. */
  migrate?: boolean;
  /** Pool size of the returned handle. Default 10. */
  max?: number;
  /** The server's `postgres` database URL. Default ADMIN_URL (the shared server). */
  adminUrl?: string;
}

/** Creates database `<prefix>_<random>`; prefix: lowercase letters, digits, underscore. */
export async function createTestDatabase(prefix: string, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(prefix))
    throw new Error(`createTestDatabase: prefix must match [a-z][a-z0-9_]{0,40}, got "${prefix}"`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const adminUrl = options.adminUrl ?? ADMIN_URL;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(`/${name}`, adminUrl).href;
  if (options.migrate ?? true) await runMigrations(url);
  const handle = createDb(url, { max: options.max });
  return {
    ...handle,
    url,
    name,
    async drop() {
      await handle.close();
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

const run = promisify(execFile);
/** The server binaries of the shared server's version (the same major as the schema is tested on). */
const PG_BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  /** Its `postgres` database (superuser, trust auth): give it to createTestDatabase's adminUrl. */
  adminUrl: string;
  port: number;
  /** Stops the server: `fast` disconnects everyone and shuts down cleanly, `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it and deletes its data directory. */
  destroy(): Promise<void>;
}

/**
 * initdb into a temp dir and start it on a free port (127.0.0.1, trust auth, fsync off). The
 * server refuses to run as root, so under root it runs as the `postgres` system user.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-test-'));
  const data = join(dir, 'data');
  const port = await freePort();
  let runAs: { uid: number; gid: number } | undefined;
  if (userInfo().uid === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    runAs = { uid: Number(stdout.trim()), gid: Number(gid.trim()) };
    await chown(dir, runAs.uid, runAs.gid);
  }
  const pg = (tool: string, args: string[]) => run(join(PG_BIN, tool), args, { ...runAs, cwd: dir });
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
  const start = async () => {
    await pg('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await pg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']).catch(() => undefined);
  };
  await start();
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    destroy: async () => {
      await stop('immediate');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
