// The one place that opens Postgres connections: a postgres.js pool plus the drizzle
// instance over it. postgres.js replaces a connection whose backend died (killed,
// restarted) on the next query, so the pool recovers by itself.
import postgres, { type Sql } from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import * as schema from './schema.js';

export type Schema = typeof schema;
/** A drizzle database or a transaction on it: every db function accepts either. */
export type Db = PgDatabase<PostgresJsQueryResultHKT, Schema>;

/** The one row of a query that always returns one (an aggregate, an upsert ... returning). */
export function onlyRow<T>(rows: readonly T[], query: string): T {
  const [row] = rows;
  if (row === undefined) throw new Error(`${query}: the query returned no row`);
  return row;
}

export interface DbHandle {
  /** The postgres.js client (raw SQL, assertMigrationsCurrent). */
  readonly sql: Sql;
  readonly db: Db;
  /** Waits up to 5 s for running queries, then closes every connection. */
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** Pool size. Default 10. */
  max?: number;
  /** Server notices go here at debug level. Default: a silent logger. */
  logger?: Logger;
}

export function createDb(databaseUrl: string, options: CreateDbOptions = {}): DbHandle {
  const max = options.max ?? 10;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`createDb: max must be a whole number >= 1, got ${max}`);
  const logger = options.logger ?? silentLogger();
  const sql = postgres(databaseUrl, {
    max,
    onnotice: (notice) => logger.debug({ notice: notice.message }, 'postgres notice'),
    // Close idle connections so a long-lived process does not hold dead sockets forever.
    idle_timeout: 60,
    connect_timeout: 10,
  });
  const db = drizzle({ client: sql, schema });
  return { sql, db, close: () => sql.end({ timeout: 5 }) };
}
