// Who may use what, declared by every command and button and enforced by the dispatcher
// (interactions.ts) before a handler runs, on our side: Discord's default member
// permissions only hide commands, and server admins can change them.
//   everyone      anyone who can see the command
//   admin         a bot admin: listed in ADMIN_USER_IDS, or holding an ADMIN_ROLE_IDS role
//   owner         the job's owner (buttons on a job spend the owner's quota)
//   ownerOrAdmin  the job's owner, or a bot admin (cancelling, showing a job again)
import type { Interaction } from 'discord.js';
import { audit, type Job } from '../db/index.js';
import type { BotConfig, BotContext } from './context.js';
import { UserError } from './errors.js';

export type Access = 'everyone' | 'admin' | 'owner' | 'ownerOrAdmin';
/** The levels that are about one job: the dispatcher loads the job first. */
export type JobAccess = Extract<Access, 'owner' | 'ownerOrAdmin'>;

/** The member's role ids (none in DMs). */
function memberRoles(interaction: Interaction): string[] {
  const member = interaction.member;
  if (member === null) return [];
  // Guild members arrive either as a cached GuildMember or as raw API data.
  return Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
}

export function isAdmin(config: BotConfig, interaction: Interaction): boolean {
  if (config.ADMIN_USER_IDS.includes(interaction.user.id)) return true;
  return memberRoles(interaction).some((role) => config.ADMIN_ROLE_IDS.includes(role));
}

/** Throws UserError unless the user may use an admin command; a refusal is audited (without delaying the answer). */
export function enforceAdmin(ctx: BotContext, interaction: Interaction, command: string): void {
  if (isAdmin(ctx.config, interaction)) return;
  audit(ctx.db, { actorId: interaction.user.id, action: 'admin.denied', targetId: null, details: { command, guildId: interaction.guildId } }).catch((err: unknown) =>
    ctx.logger.error({ err }, 'could not audit a refused admin command'),
  );
  throw new UserError('Only bot admins can use this command.');
}

/** Throws UserError unless the user may act on the job; `via` words the refusal for buttons or commands. */
export function enforceJobAccess(ctx: BotContext, interaction: Interaction, access: JobAccess, job: Job, via: 'button' | 'command'): void {
  if (job.userId === interaction.user.id) return;
  if (access === 'ownerOrAdmin' && isAdmin(ctx.config, interaction)) return;
  throw new UserError(via === 'button' ? `These buttons belong to <@${job.userId}>.` : `Job \`${job.id}\` belongs to <@${job.userId}>.`);
}
