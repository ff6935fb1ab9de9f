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

export type GuildSettingsChanges = Partial<Omit<GuildSettings, 'guildId'>>;

/** Changes the given fields only; audited. Returns the settings after the change. */
export async function setGuildSettings(
  db: Db,
  input: { guildId: string; actorId: string; changes: GuildSettingsChanges },
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

/**
 * Reads the guild's settings and writes the changes `edit` makes from them (null: none),
 * one editor at a time per guild (a transaction-scoped advisory lock), so two admins adding
 * words at once do not lose one of them. Returns what `edit` returned.
 */
export async function editGuildSettings<T extends { changes: GuildSettingsChanges | null }>(
  db: Db,
  input: { guildId: string; actorId: string },
  edit: (current: GuildSettings) => T,
): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`guild_settings:${input.guildId}`}))`);
    const result = edit(await getGuildSettings(tx, input.guildId));
    if (result.changes !== null) await setGuildSettings(tx, { ...input, changes: result.changes });
    return result;
  });
}
