// Users (Discord snowflakes) and bans: everywhere (`users.banned`, by bot owners) and in one
// server (`guild_bans`, by that server's admins).
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { audit } from './audit.js';
import { guildBans, users, type GuildBanRow, type UserRow } from './schema.js';

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
  if (row === undefined) throw new Error('ensureUser: the upsert returned no row');
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

/** The user's ban in a server (its admins'), or null. */
export async function getGuildBan(db: Db, guildId: string, userId: string): Promise<GuildBanRow | null> {
  const [row] = await db
    .select()
    .from(guildBans)
    .where(and(eq(guildBans.guildId, guildId), eq(guildBans.userId, userId)));
  return row ?? null;
}

/** A server's bans, oldest first. */
export async function listGuildBans(db: Db, guildId: string): Promise<GuildBanRow[]> {
  return db.select().from(guildBans).where(eq(guildBans.guildId, guildId)).orderBy(guildBans.bannedAt, guildBans.userId);
}

/** Bans the user from using the bot in one server; audited. Banning again updates the reason. */
export async function banInGuild(db: Db, input: { guildId: string; userId: string; actorId: string; reason: string }): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .insert(guildBans)
      .values({ guildId: input.guildId, userId: input.userId, reason: input.reason, bannedBy: input.actorId })
      .onConflictDoUpdate({
        target: [guildBans.guildId, guildBans.userId],
        set: { reason: input.reason, bannedBy: input.actorId, bannedAt: sql`now()` },
      });
    await audit(tx, {
      actorId: input.actorId,
      action: 'guild.ban',
      targetId: input.userId,
      details: { guildId: input.guildId, reason: input.reason },
    });
  });
}

/** Lifts a server's ban; returns whether there was one. Audited when there was. */
export async function unbanInGuild(db: Db, input: { guildId: string; userId: string; actorId: string }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const deleted = await tx
      .delete(guildBans)
      .where(and(eq(guildBans.guildId, input.guildId), eq(guildBans.userId, input.userId)))
      .returning({ userId: guildBans.userId });
    if (deleted.length > 0)
      await audit(tx, { actorId: input.actorId, action: 'guild.unban', targetId: input.userId, details: { guildId: input.guildId } });
    return deleted.length > 0;
  });
}
