// /quota-admin set|grant|reset|default: quotas everywhere (bot owners only; each change is in the audit log). A server's own limits are /settings default-quota and user-limit.
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { getQuota, grant, MAX_QUOTA_AMOUNT, resetQuota, setDefaultLimit, setLimit } from '../../db/index.js';
import { UserError } from '../errors.js';
import { optionValues, parseOptions, snowflakeId, subcommandName, text, whole } from '../options.js';
import type { PlainCommand } from '../types.js';

const DEFAULT_REASON = 'via /quota-admin';

const data = new SlashCommandBuilder()
  .setName('quota-admin')
  .setDescription('Quotas everywhere (bot owners)')
  .setDefaultMemberPermissions('0')
  .addSubcommand((s) =>
    s
      .setName('set')
      .setDescription("Set a user's daily limit")
      .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true))
      .addIntegerOption((o) =>
        o.setName('limit').setDescription('Images per day').setRequired(true).setMinValue(0).setMaxValue(MAX_QUOTA_AMOUNT),
      )
      .addStringOption((o) => o.setName('reason').setDescription('Why (audit log)').setMaxLength(200)),
  )
  .addSubcommand((s) =>
    s
      .setName('grant')
      .setDescription('Give a user extra images for today')
      .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true))
      .addIntegerOption((o) =>
        o.setName('amount').setDescription('Extra images').setRequired(true).setMinValue(1).setMaxValue(MAX_QUOTA_AMOUNT),
      )
      .addStringOption((o) => o.setName('reason').setDescription('Why (audit log)').setMaxLength(200)),
  )
  .addSubcommand((s) =>
    s
      .setName('reset')
      .setDescription("Reset a user's usage for today")
      .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true))
      .addStringOption((o) => o.setName('reason').setDescription('Why (audit log)').setMaxLength(200)),
  )
  .addSubcommand((s) =>
    s
      .setName('default')
      .setDescription('Set the daily limit of users without their own')
      .addIntegerOption((o) =>
        o.setName('limit').setDescription('Images per day').setRequired(true).setMinValue(0).setMaxValue(MAX_QUOTA_AMOUNT),
      )
      .addStringOption((o) => o.setName('reason').setDescription('Why (audit log)').setMaxLength(200)),
  )
  .toJSON();

const reason = text('reason', { required: false, maxChars: 200 }).default(DEFAULT_REASON);
const schemas = {
  set: z.strictObject({ user: snowflakeId('user'), limit: whole('limit', 0, MAX_QUOTA_AMOUNT), reason }),
  grant: z.strictObject({ user: snowflakeId('user'), amount: whole('amount', 1, MAX_QUOTA_AMOUNT), reason }),
  reset: z.strictObject({ user: snowflakeId('user'), reason }),
  default: z.strictObject({ limit: whole('limit', 0, MAX_QUOTA_AMOUNT), reason }),
};

export const quotaAdmin: PlainCommand = {
  data,
  access: 'botOwner',
  posts: false,

  async execute(ctx, interaction) {
    const sub = subcommandName(interaction.options.data);
    const values = optionValues(interaction.options.data);
    const actorId = interaction.user.id;
    const quotaOf = (userId: string) => getQuota(ctx.db, userId, { defaultLimit: ctx.config.DEFAULT_QUOTA });
    let content: string;
    switch (sub) {
      case 'set': {
        const o = parseOptions(schemas.set, values);
        await setLimit(ctx.db, { userId: o.user, limit: o.limit, actorId, reason: o.reason || DEFAULT_REASON });
        const q = await quotaOf(o.user);
        content = `<@${o.user}> now has a limit of ${o.limit} images per day (${q.remaining} left today).`;
        break;
      }
      case 'grant': {
        const o = parseOptions(schemas.grant, values);
        await grant(ctx.db, { userId: o.user, amount: o.amount, actorId, reason: o.reason || DEFAULT_REASON });
        const q = await quotaOf(o.user);
        content = `Granted ${o.amount} extra image${o.amount === 1 ? '' : 's'} to <@${o.user}> for today (${q.remaining} left).`;
        break;
      }
      case 'reset': {
        const o = parseOptions(schemas.reset, values);
        await resetQuota(ctx.db, { userId: o.user, actorId, reason: o.reason || DEFAULT_REASON });
        const q = await quotaOf(o.user);
        content = `Reset today's usage of <@${o.user}> (${q.remaining} left).`;
        break;
      }
      case 'default': {
        const o = parseOptions(schemas.default, values);
        await setDefaultLimit(ctx.db, { limit: o.limit, actorId, reason: o.reason || DEFAULT_REASON });
        content = `The default limit is now ${o.limit} images per day everywhere, for users without their own limit (a server's own limits apply too).`;
        break;
      }
      default:
        throw new UserError('Unknown subcommand. Use set, grant, reset or default.');
    }
    ctx.logger.info({ actorId, subcommand: sub }, 'quota changed by an admin');
    await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};
