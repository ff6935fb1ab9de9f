// /unban user: lifts a ban from everywhere (bot owners only; in the audit log).
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { unbanUser } from '../../db/index.js';
import { optionValues, parseOptions, snowflakeId } from '../options.js';
import type { PlainCommand } from '../types.js';

const schema = z.strictObject({ user: snowflakeId('user') });

export const unban: PlainCommand = {
  data: new SlashCommandBuilder()
    .setName('unban')
    .setDescription('Lift a ban from everywhere (bot owners)')
    .setDefaultMemberPermissions('0')
    .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true))
    .toJSON(),
  access: 'botOwner',
  posts: false,

  async execute(ctx, interaction) {
    const o = parseOptions(schema, optionValues(interaction.options.data));
    await unbanUser(ctx.db, { userId: o.user, actorId: interaction.user.id, reason: 'via /unban' });
    ctx.logger.info({ actorId: interaction.user.id, userId: o.user }, 'user unbanned');
    await interaction.reply({
      content: `<@${o.user}> is no longer banned.`,
      flags: MessageFlags.Ephemeral,
      allowedMentions: { parse: [] },
    });
  },
};
