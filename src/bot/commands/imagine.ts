// /imagine prompt [negative] [seed] [steps] [guidance] [sampler] [aspect] [count] [model]
// The prompt may carry Midjourney's inline parameters (`--ar 16:9 --no trees --seed 42`),
// `{a, b}` choices (one job each) and AUTOMATIC1111 syntax (read by the pipeline); the
// user's /prefer defaults and suffix apply (prompts.ts). Every field is validated by the
// job contract when each job is created (submit.ts), with the limits Discord is told about.
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { LIMITS, randomSeed, SAMPLERS } from '../../contract/index.js';
import { getPreferences } from '../../db/index.js';
import { oneOf, optionValues, parseOptions, typed } from '../options.js';
import { DEFAULTS, requestsFromPrompt } from '../prompts.js';
import { ASPECTS } from '../sizes.js';
import { submitGenerations } from '../submit.js';
import type { PlainCommand } from '../types.js';

const data = new SlashCommandBuilder()
  .setName('imagine')
  .setDescription('Generate images from a prompt (inline --ar, --no, --seed ... and {a, b} choices work too)')
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true).setMinLength(1).setMaxLength(LIMITS.promptChars))
  .addStringOption((o) => o.setName('negative').setDescription('What to keep out of the image').setMaxLength(LIMITS.promptChars))
  .addIntegerOption((o) => o.setName('seed').setDescription('Seed of the first image (random by default)').setMinValue(LIMITS.seed.min).setMaxValue(LIMITS.seed.max))
  .addIntegerOption((o) => o.setName('steps').setDescription(`Denoising steps (default ${DEFAULTS.steps})`).setMinValue(LIMITS.steps.min).setMaxValue(LIMITS.steps.max))
  .addNumberOption((o) =>
    o.setName('guidance').setDescription(`How closely to follow the prompt (default ${DEFAULTS.guidance})`).setMinValue(LIMITS.guidance.min).setMaxValue(LIMITS.guidance.max),
  )
  .addStringOption((o) => o.setName('sampler').setDescription("Sampler (the model's default if omitted)").setAutocomplete(true))
  .addStringOption((o) => o.setName('aspect').setDescription('Aspect ratio (default 1:1; --ar W:H takes any)').addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))))
  .addIntegerOption((o) => o.setName('count').setDescription(`Number of images (default ${DEFAULTS.count})`).setMinValue(LIMITS.count.min).setMaxValue(LIMITS.count.max))
  .addStringOption((o) => o.setName('model').setDescription('Model (the default if omitted)').setAutocomplete(true))
  .toJSON();

const schema = z.strictObject({
  prompt: typed.text('prompt'),
  negative: typed.text('negative').optional(),
  seed: typed.number('seed').optional(),
  steps: typed.number('steps').optional(),
  guidance: typed.number('guidance').optional(),
  sampler: oneOf('sampler', SAMPLERS).optional(),
  aspect: oneOf('aspect', ASPECTS).optional(),
  count: typed.number('count').optional(),
  model: typed.text('model').optional(),
});

function matchingChoices(values: string[], typedText: string): { name: string; value: string }[] {
  const needle = typedText.toLowerCase();
  const starts = values.filter((v) => v.toLowerCase().startsWith(needle));
  const contains = values.filter((v) => !v.toLowerCase().startsWith(needle) && v.toLowerCase().includes(needle));
  return [...starts, ...contains].slice(0, 25).map((v) => ({ name: v, value: v }));
}

export const imagine: PlainCommand<z.infer<typeof schema>> = {
  data,
  access: 'everyone',
  posts: true,

  parse(interaction) {
    return parseOptions(schema, optionValues(interaction.options.data));
  },

  async execute(ctx, interaction, options, place) {
    const { prompt, ...explicit } = options;
    const preferences = await getPreferences(ctx.db, interaction.user.id);
    const requests = await requestsFromPrompt(ctx, {
      text: prompt,
      explicit,
      base: { kind: 'defaults', preferences },
      maxPrompts: Math.min(ctx.config.MAX_PERMUTATIONS, ctx.config.MAX_JOBS_PER_USER),
      seed: randomSeed,
    });
    await submitGenerations(
      ctx,
      interaction,
      requests.map((params) => ({ kind: 'imagine', parent: null, params: { ...params, init: null, edit: null } })),
      place,
    );
  },

  async autocomplete(ctx, interaction) {
    const focused = interaction.options.getFocused(true);
    const models = await ctx.models.list();
    if (focused.name === 'model') {
      await interaction.respond(matchingChoices(models.map((m) => m.name), String(focused.value)));
      return;
    }
    if (focused.name === 'sampler') {
      const chosen = models.find((m) => m.name === (interaction.options.getString('model') ?? ctx.config.DEFAULT_MODEL)) ?? models[0];
      await interaction.respond(matchingChoices(chosen?.samplers ?? [], String(focused.value)));
      return;
    }
    await interaction.respond([]);
  },
};
