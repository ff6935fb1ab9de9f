// Users (Discord snowflakes) and bans.
import { eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { audit } from './audit.js';
import { users, type UserRow } from './schema.js';

/**
 * The user is here now: creates the row on first sight, else moves last_seen_at. Returns the
 * row; inside a transaction its row lock is held until the end.
 */
export async function ensureUser(db: Db, userId: string): Promise<UserRow> {
  const [row] = await db
    .insert(users)
    .values({ id: userId })
    .onConflictDoUpdate({ target: users.id, set: { lastSeenAt: sql`now()` } })
    .returning();
  return row;
}

/** Creates the user's row if missing, without touching an existing one (no lock, no last_seen). */
export async function ensureUserExists(db: Db, userId: string): Promise<void> {
  await db.insert(users).values({ id: userId }).onConflictDoNothing({ target: users.id });
}

export async function getUser(db: Db, userId: string): Promise<UserRow | null> {
  const [row] = await db.select().from(users).where(eq(users.id, userId));
  return row ?? null;
}

export async function isBanned(db: Db, userId: string): Promise<boolean> {
  return (await getUser(db, userId))?.banned ?? false;
}

export async function banUser(db: Db, input: { userId: string; actorId: string; reason: string }): Promise<void> {
  await db.transaction(async (tx) => {
    await ensureUserExists(tx, input.userId);
    await tx
      .update(users)
      .set({ banned: true, banReason: input.reason, bannedAt: sql`now()`, bannedBy: input.actorId })
      .where(eq(users.id, input.userId));
    await audit(tx, { actorId: input.actorId, action: 'user.ban', targetId: input.userId, details: { reason: input.reason } });
  });
}

export async function unbanUser(db: Db, input: { userId: string; actorId: string; reason: string }): Promise<void> {
  await db.transaction(async (tx) => {
    await ensureUserExists(tx, input.userId);
    await tx.update(users).set({ banned: false, banReason: null, bannedAt: null, bannedBy: null }).where(eq(users.id, input.userId));
    await audit(tx, { actorId: input.actorId, action: 'user.unban', targetId: input.userId, details: { reason: input.reason } });
  });
}
