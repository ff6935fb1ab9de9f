// npm run db:migrate — applies pending migrations to DATABASE_URL. Safe to run again.
import { config as loadDotenv } from 'dotenv';
import { runMigrations } from '../db/migrate.js';
import { loadConfigOrExit } from '../entry.js';

loadDotenv({ quiet: true });
const config = loadConfigOrExit('db:migrate', process.env);
try {
  const applied = await runMigrations(config.DATABASE_URL);
  // Host and database name only: the URL may carry a password.
  const { host, pathname } = new URL(config.DATABASE_URL);
  console.log(
    applied.length === 0
      ? `database ${host}${pathname} is up to date`
      : `applied ${applied.length} migration(s) to ${host}${pathname}: ${applied.join(', ')}`,
  );
} catch (err) {
  console.error(`migration failed: ${describe(err)}`);
  process.exitCode = 1;
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // 3D000: invalid_catalog_name, the database in DATABASE_URL does not exist.
  if ((err as { code?: string }).code === '3D000') return `${message}; create it first (createdb) or point DATABASE_URL at an existing one`;
  return message;
}
