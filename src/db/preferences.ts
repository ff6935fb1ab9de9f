// Users' own defaults (/prefer), one row per user who set any.
import { eq, sql } from 'drizzle-orm';
import type { SamplerName } from '../contract/index.js';
import type { Db } from './client.js';
import { userPreferences } from './schema.js';
import { ensureUserExists } from './users.js';

export interface Preferences {
  remix: boolean;
  aspect: string | null;
  sampler: SamplerName | null;
  steps: number | null;
  count: number | null;
  model: string | null;
  suffix: string;
}

export const NO_PREFERENCES: Readonly<Preferences> = Object.freeze({
  remix: false,
  aspect: null,
  sampler: null,
  steps: null,
  count: null,
  model: null,
  suffix: '',
});

/** The user's preferences (none set: NO_PREFERENCES). */
export async function getPreferences(db: Db, userId: string): Promise<Preferences> {
  const [row] = await db.select().from(userPreferences).where(eq(userPreferences.userId, userId));
  if (row === undefined) return { ...NO_PREFERENCES };
  const { userId: _id, updatedAt: _at, ...preferences } = row;
  return preferences;
}

/** Changes the given preferences only (null clears one); returns them all after the change. */
export async function setPreferences(db: Db, userId: string, changes: Partial<Preferences>): Promise<Preferences> {
  await ensureUserExists(db, userId);
  await db
    .insert(userPreferences)
    .values({ userId, ...changes })
    .onConflictDoUpdate({ target: userPreferences.userId, set: { ...changes, updatedAt: sql`now()` } });
  return getPreferences(db, userId);
}

/** Forgets every preference of the user. */
export async function resetPreferences(db: Db, userId: string): Promise<void> {
  await db.delete(userPreferences).where(eq(userPreferences.userId, userId));
}
