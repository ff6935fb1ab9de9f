// /prefer remix|set|suffix|show|reset: a user's own defaults (ephemeral). Remix makes the
// Vary, V1-V4, reroll, Rerun, zoom and pan buttons open the prompt for editing first; `set`
// chooses the /imagine options not typed; `suffix` is appended to every prompt (Midjourney's
// /prefer suffix, inline parameters included). Explicit options and inline parameters win
// over them; the contract's limits and the quotas apply to every job as always.
import { ApplicationIntegrationType, InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { LIMITS, SAMPLERS } from '../../contract/index.js';
import { getPreferences, resetPreferences, setPreferences, type Preferences } from '../../db/index.js';
import { UserError } from '../errors.js';
import { oneOf, optionValues, parseOptions, subcommandName, text, whole } from '../options.js';
import { DEFAULTS } from '../prompts.js';
import { ASPECTS } from '../sizes.js';
import type { PlainCommand } from '../types.js';

const data = new SlashCommandBuilder()
  .setName('prefer')
  .setDescription('Your own defaults: remix, options, a suffix for every prompt')
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .addSubcommand((s) =>
    s
      .setName('remix')
      .setDescription('Edit the prompt before Vary, V1-V4, reroll, Rerun, zoom and pan')
      .addBooleanOption((o) => o.setName('on').setDescription('Remix on or off').setRequired(true)),
  )
  .addSubcommand((s) =>
    s
      .setName('set')
      .setDescription('Defaults for the /imagine options you do not type')
      .addStringOption((o) =>
        o
          .setName('aspect')
          .setDescription('Aspect ratio')
          .addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))),
      )
      .addStringOption((o) =>
        o
          .setName('sampler')
          .setDescription('Sampler')
          .addChoices(...SAMPLERS.map((a) => ({ name: a, value: a }))),
      )
      .addIntegerOption((o) =>
        o.setName('steps').setDescription('Denoising steps').setMinValue(LIMITS.steps.min).setMaxValue(LIMITS.steps.max),
      )
      .addIntegerOption((o) =>
        o.setName('count').setDescription('Number of images').setMinValue(LIMITS.count.min).setMaxValue(LIMITS.count.max),
      )
      .addStringOption((o) => o.setName('model').setDescription('Model').setMaxLength(64)),
  )
  .addSubcommand((s) =>
    s
      .setName('suffix')
      .setDescription('Text added to the end of every prompt (e.g. "--ar 16:9"); empty to remove it')
      .addStringOption((o) => o.setName('text').setDescription('The suffix').setMaxLength(200)),
  )
  .addSubcommand((s) => s.setName('show').setDescription('Show your preferences'))
  .addSubcommand((s) => s.setName('reset').setDescription('Forget all your preferences'))
  .toJSON();

const schemas = {
  remix: z.strictObject({ on: z.boolean({ error: '`on` must be true or false.' }) }),
  set: z
    .strictObject({
      aspect: oneOf('aspect', ASPECTS).optional(),
      sampler: oneOf('sampler', SAMPLERS).optional(),
      steps: whole('steps', LIMITS.steps.min, LIMITS.steps.max).optional(),
      count: whole('count', LIMITS.count.min, LIMITS.count.max).optional(),
      model: text('model', { required: true, maxChars: 64 }).optional(),
    })
    .refine((o) => Object.keys(o).length > 0, 'Give at least one of `aspect`, `sampler`, `steps`, `count` or `model`.'),
  suffix: z.strictObject({ text: text('text', { required: false, maxChars: 200 }).default('') }),
  show: z.strictObject({}),
  reset: z.strictObject({}),
};

function describe(p: Preferences): string {
  const or = (value: string | number | null, fallback: string) => (value === null ? fallback : `\`${value}\``);
  return [
    `Remix: ${p.remix ? 'on' : 'off'}`,
    `Aspect: ${or(p.aspect, 'not set (1:1)')}`,
    `Sampler: ${or(p.sampler, "not set (the model's default)")}`,
    `Steps: ${or(p.steps, `not set (${DEFAULTS.steps})`)}`,
    `Count: ${or(p.count, `not set (${DEFAULTS.count})`)}`,
    `Model: ${or(p.model, 'not set (the default model)')}`,
    `Suffix: ${p.suffix === '' ? 'none' : `\`${p.suffix}\``}`,
  ].join('\n');
}

export const prefer: PlainCommand = {
  data,
  access: 'everyone',
  posts: false,

  async execute(ctx, interaction) {
    const sub = subcommandName(interaction.options.data);
    const values = optionValues(interaction.options.data);
    const userId = interaction.user.id;
    let content: string;
    switch (sub) {
      case 'remix': {
        const o = parseOptions(schemas.remix, values);
        await setPreferences(ctx.db, userId, { remix: o.on });
        content = o.on
          ? 'Remix is on: Vary, V1-V4, 🔄, Rerun, zoom and pan open your prompt for editing first.'
          : 'Remix is off: the buttons run at once with the same prompt.';
        break;
      }
      case 'set': {
        const o = parseOptions(schemas.set, values);
        content = `Saved. Your preferences now:\n${describe(await setPreferences(ctx.db, userId, o))}`;
        break;
      }
      case 'suffix': {
        const o = parseOptions(schemas.suffix, values);
        await setPreferences(ctx.db, userId, { suffix: o.text });
        content = o.text === '' ? 'No suffix any more.' : `Every prompt of yours now ends with \`${o.text}\`.`;
        break;
      }
      case 'show':
        parseOptions(schemas.show, values);
        content = `Your preferences:\n${describe(await getPreferences(ctx.db, userId))}`;
        break;
      case 'reset':
        parseOptions(schemas.reset, values);
        await resetPreferences(ctx.db, userId);
        content = 'Your preferences are reset: remix off, no defaults, no suffix.';
        break;
      default:
        throw new UserError('Unknown subcommand. Use remix, set, suffix, show or reset.');
    }
    await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};
