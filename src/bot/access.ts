// Who may use what, declared by every command and button (`access`) and enforced by the
// dispatcher (interactions.ts) before a handler runs, on our side: Discord's default member
// permissions only hide commands, and server admins can change them. Two levels of admin:
//   botOwner      listed in ADMIN_USER_IDS: acts everywhere
//   serverAdmin   in a server: a bot owner, a member holding an ADMIN_ROLE_IDS role, or (with
//                 MANAGE_SERVER_ADMINS) a member with the Manage Server permission; acts only
//                 inside that server
//   everyone      anyone who can see the command
//   owner         the job's owner (buttons on a job spend the owner's quota)
//   ownerOrAdmin  the job's owner, a bot owner, or an admin of the server the job was made in,
//                 acting in that server: nobody else can make a job from a DM or another
//                 server appear in a channel
// Refusals are ephemeral; each is audited, at most once per actor and command a window.
import { PermissionFlagsBits, type Interaction } from 'discord.js';
import { auditOnce, type Job } from '../db/index.js';
import type { BotConfig, BotContext } from './context.js';
import { UserError } from './errors.js';

export type Access = 'everyone' | 'serverAdmin' | 'botOwner' | 'owner' | 'ownerOrAdmin';
/** The levels that are about one job: the dispatcher loads the job first. */
export type JobAccess = Extract<Access, 'owner' | 'ownerOrAdmin'>;
/** The levels of commands that are not about one job. */
export type CommandAccess = Exclude<Access, JobAccess>;

/** Repeated refusals of one actor for one command are audited once in this window. */
const DENIAL_AUDIT_WINDOW_MS = 10 * 60_000;

/** The member's role ids (none in DMs). */
function memberRoles(interaction: Interaction): string[] {
  const member = interaction.member;
  if (member === null) return [];
  // Guild members arrive either as a cached GuildMember or as raw API data.
  return Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
}

export function isBotOwner(config: BotConfig, userId: string): boolean {
  return config.ADMIN_USER_IDS.includes(userId);
}

/** An admin of the server the interaction comes from (never in DMs). */
export function isServerAdmin(config: BotConfig, interaction: Interaction): boolean {
  if (interaction.guildId === null) return false;
  if (isBotOwner(config, interaction.user.id)) return true;
  if (memberRoles(interaction).some((role) => config.ADMIN_ROLE_IDS.includes(role))) return true;
  return config.MANAGE_SERVER_ADMINS && interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) === true;
}

function refuse(ctx: BotContext, interaction: Interaction, command: string, message: string, details: Record<string, unknown> = {}): never {
  auditOnce(
    ctx.db,
    {
      actorId: interaction.user.id,
      action: 'access.denied',
      targetId: null,
      details: { command, guildId: interaction.guildId, ...details },
    },
    DENIAL_AUDIT_WINDOW_MS,
  ).catch((err: unknown) => ctx.logger.error({ err }, 'could not audit a refused interaction'));
  throw new UserError(message);
}

/** Throws UserError unless the user may use the command (`name` as users see it, e.g. `/settings`; refusals are audited per subcommand). */
export function enforceCommandAccess(
  ctx: BotContext,
  interaction: Interaction,
  access: CommandAccess,
  name: string,
  subcommand: string | null,
): void {
  const audited = subcommand === null ? name : `${name} ${subcommand}`;
  switch (access) {
    case 'everyone':
      return;
    case 'botOwner':
      if (isBotOwner(ctx.config, interaction.user.id)) return;
      return refuse(
        ctx,
        interaction,
        audited,
        `Only the bot's owners can use ${name}. Server admins manage their own server with /settings.`,
      );
    case 'serverAdmin':
      if (interaction.guildId === null) throw new UserError(`${name} is about one server: use it in that server.`);
      if (isServerAdmin(ctx.config, interaction)) return;
      return refuse(ctx, interaction, audited, `Only this server's admins can use ${name}.`);
  }
}

/** Throws UserError unless the user may act on the job; `via` words the refusal for buttons or commands. */
export function enforceJobAccess(
  ctx: BotContext,
  interaction: Interaction,
  access: JobAccess,
  job: Job,
  via: { kind: 'button' | 'command'; name: string },
): void {
  const user = interaction.user.id;
  if (job.userId === user) return;
  if (access === 'ownerOrAdmin') {
    if (isBotOwner(ctx.config, user)) return;
    if (job.guildId !== null && job.guildId === interaction.guildId && isServerAdmin(ctx.config, interaction)) return;
  }
  refuse(
    ctx,
    interaction,
    via.name,
    via.kind === 'button' ? `These buttons belong to <@${job.userId}>.` : `Job \`${job.id}\` belongs to <@${job.userId}>.`,
    { jobId: job.id },
  );
}
