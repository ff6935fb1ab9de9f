// Per-guild settings: default quota, allowed channels, banned words.
import { eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { audit } from './audit.js';
import { guildSettings } from './schema.js';

export interface GuildSettings {
  guildId: string;
  /** Images per day for users without their own limit; null: the global default. */
  defaultQuota: number | null;
  /** Channels where the bot may be used; empty: all. */
  allowedChannelIds: string[];
  /** Added to BANNED_WORDS from the config. */
  bannedWords: string[];
}

/** The guild's settings; defaults (no overrides) for a guild never configured. */
export async function getGuildSettings(db: Db, guildId: string): Promise<GuildSettings> {
  const [row] = await db.select().from(guildSettings).where(eq(guildSettings.guildId, guildId));
  return {
    guildId,
    defaultQuota: row?.defaultQuota ?? null,
    allowedChannelIds: row?.allowedChannelIds ?? [],
    bannedWords: row?.bannedWords ?? [],
  };
}

/** Changes the given fields only; audited. Returns the settings after the change. */
export async function setGuildSettings(
  db: Db,
  input: { guildId: string; actorId: string; changes: Partial<Omit<GuildSettings, 'guildId'>> },
): Promise<GuildSettings> {
  const { changes } = input;
  if (changes.defaultQuota != null && (!Number.isInteger(changes.defaultQuota) || changes.defaultQuota < 0)) {
    throw new RangeError(`defaultQuota must be a whole number >= 0, got ${changes.defaultQuota}`);
  }
  return db.transaction(async (tx) => {
    await tx
      .insert(guildSettings)
      .values({ guildId: input.guildId, ...changes, updatedBy: input.actorId })
      .onConflictDoUpdate({ target: guildSettings.guildId, set: { ...changes, updatedBy: input.actorId, updatedAt: sql`now()` } });
    await audit(tx, { actorId: input.actorId, action: 'guild.settings', targetId: input.guildId, details: { ...changes } });
    return getGuildSettings(tx, input.guildId);
  });
}
