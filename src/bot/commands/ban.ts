// /ban user [reason]: banned everywhere (bot owners only; in the audit log). A server's admins ban in their server with /settings ban.
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { banUser } from '../../db/index.js';
import { optionValues, parseOptions, snowflakeId, text } from '../options.js';
import type { PlainCommand } from '../types.js';

const schema = z.strictObject({ user: snowflakeId('user'), reason: text('reason', { required: false, maxChars: 200 }).default('') });

export const ban: PlainCommand = {
  data: new SlashCommandBuilder()
    .setName('ban')
    .setDescription('Stop a user from using the bot everywhere (bot owners)')
    .setDefaultMemberPermissions('0')
    .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true))
    .addStringOption((o) => o.setName('reason').setDescription('Shown to the user').setMaxLength(200))
    .toJSON(),
  access: 'botOwner',
  posts: false,

  async execute(ctx, interaction) {
    const o = parseOptions(schema, optionValues(interaction.options.data));
    await banUser(ctx.db, { userId: o.user, actorId: interaction.user.id, reason: o.reason });
    ctx.logger.info({ actorId: interaction.user.id, userId: o.user }, 'user banned');
    await interaction.reply({
      content: `<@${o.user}> is banned${o.reason ? ` (${o.reason})` : ''}.`,
      flags: MessageFlags.Ephemeral,
      allowedMentions: { parse: [] },
    });
  },
};
