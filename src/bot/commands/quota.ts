// /quota: the user's limit, usage and reset time everywhere and, in a server, that server's
// own limit for them (ephemeral).
import { ApplicationIntegrationType, InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { getQuota, getServerQuota } from '../../db/index.js';
import { discordTime } from '../submit.js';
import type { PlainCommand } from '../types.js';

const data = new SlashCommandBuilder()
  .setName('quota')
  .setDescription('How many images you have left today')
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .toJSON();

export const quota: PlainCommand = {
  data,
  access: 'everyone',
  posts: false,

  async execute(ctx, interaction) {
    const guildId = interaction.guildId;
    const [q, server] = await Promise.all([
      getQuota(ctx.db, interaction.user.id, { defaultLimit: ctx.config.DEFAULT_QUOTA }),
      guildId === null ? null : getServerQuota(ctx.db, guildId, interaction.user.id),
    ]);
    const bonus = q.bonus > 0 ? ` (including ${q.bonus} extra granted for today)` : '';
    const lines = [`Limit: ${q.limit} images per day${bonus}`, `Used: ${q.used}`, `Remaining: ${q.remaining}`];
    if (server !== null) {
      lines.push(
        server.limit === null
          ? `In this server: no limit of its own (used ${server.used} here today)`
          : `In this server: ${server.limit} images per day, used ${server.used}, remaining ${server.remaining}`,
      );
    }
    lines.push(`Resets ${discordTime(q.resetsAt)} (${discordTime(q.resetsAt, 'f')})`);
    await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral });
  },
};
