// Migrations on a real Postgres: empty -> latest, a second run with nothing to do, concurrent
// runs, a database behind the code refused at start-up, and the committed SQL matching the schema.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { assertMigrationsCurrent, MIGRATIONS_FOLDER, MigrationsBehindError, runMigrations } from '../src/db/index.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

async function journalTags(folder: string): Promise<string[]> {
  const journal = JSON.parse(await readFile(join(folder, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  return journal.entries.map((e) => e.tag);
}

describe('runMigrations and assertMigrationsCurrent', () => {
  let pg: TestDatabase;
  let scratch: string;

  beforeAll(async () => {
    pg = await createTestDatabase('db_migrate', { migrate: false });
    scratch = await mkdtemp(join(tmpdir(), 'db-migrate-'));
  });

  afterAll(async () => {
    await pg?.drop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('refuses an empty database, naming the command to run', async () => {
    const failure = assertMigrationsCurrent(pg.sql);
    await expect(failure).rejects.toBeInstanceOf(MigrationsBehindError);
    await expect(failure).rejects.toThrow('run `npm run db:migrate`');
  });

  it('migrates an empty database to the latest, then has nothing to do', async () => {
    const tags = await journalTags(MIGRATIONS_FOLDER);
    expect(await runMigrations(pg.url)).toEqual(tags);
    await assertMigrationsCurrent(pg.sql);
    const tables = await pg.sql<{ table_name: string }[]>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`;
    expect(tables.map((t) => t.table_name)).toEqual([
      'audit_log',
      'guild_bans',
      'guild_quotas',
      'guild_settings',
      'images',
      'input_images',
      'jobs',
      'quota_ledger',
      'quotas',
      'replays',
      'settings',
      'user_preferences',
      'users',
    ]);

    expect(await runMigrations(pg.url)).toEqual([]);
    await assertMigrationsCurrent(pg.sql);
  });

  it('refuses a database behind a newer migration, then applies just that one', async () => {
    const folder = join(scratch, 'migrations');
    await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
    const journalPath = join(folder, 'meta/_journal.json');
    const journal = JSON.parse(await readFile(journalPath, 'utf8')) as {
      entries: { idx: number; when: number; tag: string; version: string; breakpoints: boolean }[];
    };
    const last = at(journal.entries, journal.entries.length - 1);
    journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag: '9999_test_extra' });
    await writeFile(journalPath, JSON.stringify(journal));
    await writeFile(join(folder, '9999_test_extra.sql'), 'CREATE TABLE "test_extra" ("id" integer PRIMARY KEY);');

    await expect(assertMigrationsCurrent(pg.sql, folder)).rejects.toThrow(
      'the database is missing 1 migration(s) (9999_test_extra); run `npm run db:migrate`',
    );
    expect(await runMigrations(pg.url, folder)).toEqual(['9999_test_extra']);
    await assertMigrationsCurrent(pg.sql, folder);
    // The real folder is behind this database now, which is fine: old code on a newer schema.
    await assertMigrationsCurrent(pg.sql);
  });
});

describe('0003: the img2img source moves to its own columns', () => {
  let pg: TestDatabase;
  let scratch: string;

  beforeAll(async () => {
    pg = await createTestDatabase('db_migrate_init', { migrate: false });
    scratch = await mkdtemp(join(tmpdir(), 'db-migrate-init-'));
  });

  afterAll(async () => {
    await pg?.drop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("moves a variation's source, and gives a U1-U4 of a variation its grid's source: Rerun repeats the request", async () => {
    // The schema before 0003, with rows as the old code wrote them.
    const folder = join(scratch, 'migrations');
    await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
    const journalPath = join(folder, 'meta/_journal.json');
    const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { tag: string }[] };
    journal.entries = journal.entries.filter((e) => e.tag < '0003');
    await writeFile(journalPath, JSON.stringify(journal));
    await runMigrations(pg.url, folder);
    await pg.sql`insert into users (id) values ('100000000000000001')`;
    const job = (id: string, kind: string, parent: string | null, index: number | null, strength: number | null) => pg.sql`
      insert into jobs (id, interaction_id, interaction_token, interaction_token_expires_at, user_id, channel_id, kind, parent_job_id, parent_index,
        prompt, model, sampler, steps, guidance, width, height, count, strength, seed, rng, cost)
      values (${id}, ${`i-${id}`}, 't', now(), '100000000000000001', '200000000000000001', ${kind}, ${parent}, ${index},
        'a red circle', 'shapes-demo', 'euler', 20, 7, 128, 128, 4, ${strength}, 7, 'numpy', 0)`;
    await job('grid00000001', 'imagine', null, null, null);
    await job('vary00000001', 'variation', 'grid00000001', 2, 0.65);
    await job('pick00000001', 'select', 'vary00000001', 1, 0.65);

    await runMigrations(pg.url);
    const rows = await pg.sql<
      {
        id: string;
        kind: string;
        parent_job_id: string | null;
        init_job_id: string | null;
        init_index: number | null;
        strength: number | null;
      }[]
    >`
      select id, kind, parent_job_id, init_job_id, init_index, strength from jobs order by id`;
    expect(rows).toEqual([
      { id: 'grid00000001', kind: 'imagine', parent_job_id: null, init_job_id: null, init_index: null, strength: null },
      { id: 'pick00000001', kind: 'select', parent_job_id: 'vary00000001', init_job_id: 'grid00000001', init_index: 2, strength: 0.65 },
      { id: 'vary00000001', kind: 'variation', parent_job_id: 'grid00000001', init_job_id: 'grid00000001', init_index: 2, strength: 0.65 },
    ]);
  });
});

describe('concurrent runs', () => {
  let pg: TestDatabase;

  beforeAll(async () => {
    pg = await createTestDatabase('db_migrate_race', { migrate: false });
  });

  afterAll(async () => {
    await pg?.drop();
  });

  it('apply each migration once', async () => {
    const tags = await journalTags(MIGRATIONS_FOLDER);
    const results = await Promise.all([runMigrations(pg.url), runMigrations(pg.url), runMigrations(pg.url)]);
    expect(results.filter((r) => r.length > 0)).toEqual([tags]);
    const [counted] = await pg.sql<{ applied: number }[]>`select count(*)::int as applied from drizzle.__drizzle_migrations`;
    if (counted === undefined) throw new Error('count(*) returned no row');
    expect(counted.applied).toBe(tags.length);
  });
});

describe('committed migrations', () => {
  it('match src/db/schema.ts (drizzle-kit generates nothing new)', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'db-generate-'));
    try {
      await cp(MIGRATIONS_FOLDER, join(scratch, 'migrations'), { recursive: true });
      const { stdout } = await run(
        join(ROOT, 'node_modules/.bin/drizzle-kit'),
        ['generate', '--dialect', 'postgresql', '--schema', join(ROOT, 'src/db/schema.ts'), '--out', 'migrations'],
        { cwd: scratch },
      );
      expect(stdout).toContain('No schema changes');
      expect(await journalTags(join(scratch, 'migrations'))).toEqual(await journalTags(MIGRATIONS_FOLDER));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
