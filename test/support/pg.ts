// A fresh, migrated Postgres database per test file, so test files can run in parallel.
//   const pg = await createTestDatabase('worker');   // in beforeAll
//   ... pg.db, pg.sql, pg.url ...
//   await pg.drop();                                  // in afterAll
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { runMigrations } from '../../src/db/migrate.js';

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
}

/** Creates database `<prefix>_<random>`; prefix: lowercase letters, digits, underscore. */
export async function createTestDatabase(prefix: string, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`createTestDatabase: prefix must match [a-z][a-z0-9_]{0,40}, got "${prefix}"`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = `postgres://postgres@127.0.0.1:5432/${name}`;
  if (options.migrate ?? true) await runMigrations(url);
  const handle = createDb(url, { max: options.max });
  return {
    ...handle,
    url,
    name,
    async drop() {
      await handle.close();
      const dropper = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
