// The rules of a place, applied by the dispatcher to every command and button that makes
// something appear in a channel or spends quota (`posts: true`): bans (everywhere and in
// this server), the server's allowed channels, and banned words in the prompt of the job
// being shown or reused. New prompts are checked with the same words in submit.ts. One
// shared check: handlers never repeat it.
import { getGuildBan, getGuildSettings, getUser, type GuildSettings, type Job } from '../db/index.js';
import type { BotContext } from './context.js';
import { UserError } from './errors.js';
import { findBannedWord } from './moderation.js';
import type { RepliableInteraction } from 'discord.js';

/** What the rules found out about the place, for the handler (null in DMs). */
export interface Place {
  guild: GuildSettings | null;
}

/** The first banned word (the bot's and the server's) in any of the texts, or null. */
export function bannedWordIn(ctx: BotContext, guild: GuildSettings | null, texts: string[]): string | null {
  return findBannedWord(texts, guild === null ? ctx.config.BANNED_WORDS : [...ctx.config.BANNED_WORDS, ...guild.bannedWords]);
}

/** Throws UserError when the user may not post here; returns the server's settings for the handler. */
export async function enforceRules(ctx: BotContext, interaction: RepliableInteraction, job: Job | null): Promise<Place> {
  const guildId = interaction.guildId;
  const [user, serverBan, guild] = await Promise.all([
    getUser(ctx.db, interaction.user.id),
    guildId === null ? null : getGuildBan(ctx.db, guildId, interaction.user.id),
    guildId === null ? null : getGuildSettings(ctx.db, guildId),
  ]);
  if (user?.banned) throw new UserError(`You are banned from using this bot${user.banReason ? `: ${user.banReason}` : '.'}`);
  if (serverBan !== null)
    throw new UserError(`You are banned from using this bot in this server${serverBan.reason ? `: ${serverBan.reason}` : '.'}`);
  if (guild !== null && guild.allowedChannelIds.length > 0 && !guild.allowedChannelIds.includes(interaction.channelId ?? '')) {
    throw new UserError(`I am not enabled in this channel. Try ${guild.allowedChannelIds.map((id) => `<#${id}>`).join(', ')}.`);
  }
  if (job !== null) {
    const word = bannedWordIn(ctx, guild, [job.prompt, job.negativePrompt]);
    if (word !== null)
      throw new UserError(`Job \`${job.id}\`'s prompt contains a word banned here (\`${word}\`), so it cannot be shown or reused here.`);
  }
  return { guild };
}
