// Who may do what. Enforced here, on our side: Discord's default member permissions only
// hide commands, and server admins can change them.
import type { Interaction } from 'discord.js';
import { audit, type Job } from '../db/index.js';
import type { BotConfig, BotContext } from './context.js';
import { UserError } from './errors.js';

/** The member's role ids (none in DMs). */
function memberRoles(interaction: Interaction): string[] {
  const member = interaction.member;
  if (member === null) return [];
  // Guild members arrive either as a cached GuildMember or as raw API data.
  return Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
}

/** A bot admin: listed in ADMIN_USER_IDS, or holding a role listed in ADMIN_ROLE_IDS (guilds only). */
export function isAdmin(config: BotConfig, interaction: Interaction): boolean {
  if (config.ADMIN_USER_IDS.includes(interaction.user.id)) return true;
  return memberRoles(interaction).some((role) => config.ADMIN_ROLE_IDS.includes(role));
}

/** Refuses non-admins, and records the attempt in the audit log (without delaying the answer). */
export function requireAdmin(ctx: BotContext, interaction: Interaction, command: string): void {
  if (isAdmin(ctx.config, interaction)) return;
  audit(ctx.db, { actorId: interaction.user.id, action: 'admin.denied', targetId: null, details: { command, guildId: interaction.guildId } }).catch((err) =>
    ctx.logger.error({ err }, 'could not audit a refused admin command'),
  );
  throw new UserError('Only bot admins can use this command.');
}

/**
 * A job's buttons are its owner's. Admins may also cancel any job (moderation), but not
 * spend on someone else's job's buttons.
 */
export function requireButtonOwner(config: BotConfig, interaction: Interaction, job: Job, options: { admins: boolean }): void {
  if (job.userId === interaction.user.id || (options.admins && isAdmin(config, interaction))) return;
  throw new UserError(`These buttons belong to <@${job.userId}>.`);
}

/** /rerun and /show work on the user's own jobs (a DM job's prompt is private); admins may see any. */
export function requireJobAccess(config: BotConfig, interaction: Interaction, job: Job): void {
  if (job.userId === interaction.user.id || isAdmin(config, interaction)) return;
  throw new UserError(`Job \`${job.id}\` belongs to <@${job.userId}>.`);
}
