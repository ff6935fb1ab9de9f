// /quota: the user's limit, usage and reset time (ephemeral).
import { ApplicationIntegrationType, InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { getQuota } from '../../db/index.js';
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

  async execute(ctx, interaction) {
    const q = await getQuota(ctx.db, interaction.user.id, { guildId: interaction.guildId, defaultLimit: ctx.config.DEFAULT_QUOTA });
    const bonus = q.bonus > 0 ? ` (including ${q.bonus} extra granted for today)` : '';
    await interaction.reply({
      content: `Limit: ${q.limit} images per day${bonus}\nUsed: ${q.used}\nRemaining: ${q.remaining}\nResets ${discordTime(q.resetsAt)} (${discordTime(q.resetsAt, 'f')})`,
      flags: MessageFlags.Ephemeral,
    });
  },
};
