// npm run db:migrate — applies pending migrations to DATABASE_URL. Safe to run again.
import { config as loadDotenv } from 'dotenv';
import { loadConfig, ConfigError } from '../config.js';
import { runMigrations } from '../db/migrate.js';

loadDotenv({ quiet: true });
try {
  const config = loadConfig(process.env);
  const applied = await runMigrations(config.DATABASE_URL);
  const where = new URL(config.DATABASE_URL);
  where.password = '';
  console.log(applied.length === 0 ? `database ${where.host}${where.pathname} is up to date` : `applied ${applied.length} migration(s): ${applied.join(', ')}`);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `migration failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
