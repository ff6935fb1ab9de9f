// /imagine prompt [negative] [seed] [steps] [guidance] [sampler] [aspect] [count] [model]
// Options are read with their types here; every field is validated by the job contract
// when the job is created (submit.ts), with the same limits Discord is told about.
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { LIMITS, randomSeed, SAMPLERS, type ModelInfo } from '../../contract/index.js';
import type { BotContext } from '../context.js';
import { UserError } from '../errors.js';
import { oneOf, optionValues, parseOptions, typed } from '../options.js';
import { ASPECTS, sizeForAspect } from '../sizes.js';
import { submitGeneration } from '../submit.js';
import type { PlainCommand } from '../types.js';

const DEFAULT_STEPS = 20;
const DEFAULT_GUIDANCE = 7;
const DEFAULT_COUNT = 4;

const data = new SlashCommandBuilder()
  .setName('imagine')
  .setDescription('Generate images from a prompt')
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true).setMinLength(1).setMaxLength(LIMITS.promptChars))
  .addStringOption((o) => o.setName('negative').setDescription('What to keep out of the image').setMaxLength(LIMITS.promptChars))
  .addIntegerOption((o) => o.setName('seed').setDescription('Seed of the first image (random by default)').setMinValue(LIMITS.seed.min).setMaxValue(LIMITS.seed.max))
  .addIntegerOption((o) => o.setName('steps').setDescription(`Denoising steps (default ${DEFAULT_STEPS})`).setMinValue(LIMITS.steps.min).setMaxValue(LIMITS.steps.max))
  .addNumberOption((o) =>
    o.setName('guidance').setDescription(`How closely to follow the prompt (default ${DEFAULT_GUIDANCE})`).setMinValue(LIMITS.guidance.min).setMaxValue(LIMITS.guidance.max),
  )
  .addStringOption((o) => o.setName('sampler').setDescription("Sampler (the model's default if omitted)").setAutocomplete(true))
  .addStringOption((o) => o.setName('aspect').setDescription('Aspect ratio (default 1:1)').addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))))
  .addIntegerOption((o) => o.setName('count').setDescription(`Number of images (default ${DEFAULT_COUNT})`).setMinValue(LIMITS.count.min).setMaxValue(LIMITS.count.max))
  .addStringOption((o) => o.setName('model').setDescription('Model (the default if omitted)').setAutocomplete(true))
  .toJSON();

const schema = z.strictObject({
  prompt: typed.text('prompt'),
  negative: typed.text('negative').default(''),
  seed: typed.number('seed').optional(),
  steps: typed.number('steps').default(DEFAULT_STEPS),
  guidance: typed.number('guidance').default(DEFAULT_GUIDANCE),
  sampler: oneOf('sampler', SAMPLERS).optional(),
  aspect: oneOf('aspect', ASPECTS).default('1:1'),
  count: typed.number('count').default(DEFAULT_COUNT),
  model: typed.text('model').optional(),
});

/** The live model the user asked for (or the default one). */
async function resolveModel(ctx: BotContext, requested: string | undefined): Promise<ModelInfo> {
  const name = requested ?? ctx.config.DEFAULT_MODEL;
  const models = await ctx.models.list();
  const model = models.find((m) => m.name === name);
  if (model) return model;
  if (models.length === 0) throw new UserError('No worker is running right now, so no model is available. Please try again in a minute.');
  const available = models.map((m) => `\`${m.name}\``).join(', ');
  if (requested === undefined) throw new UserError(`The default model is not available right now. Pick one of: ${available}.`);
  throw new UserError(`Unknown model \`${requested.slice(0, 64)}\`. Available: ${available}.`);
}

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
    const model = await resolveModel(ctx, options.model);
    const { width, height } = sizeForAspect(options.aspect, model, ctx.config.MAX_PIXELS);
    await submitGeneration(ctx, interaction, {
      kind: 'imagine',
      parent: null,
      params: {
        prompt: options.prompt,
        negativePrompt: options.negative,
        model: model.name,
        sampler: options.sampler ?? model.defaultSampler,
        steps: options.steps,
        guidance: options.guidance,
        width,
        height,
        count: options.count,
        seed: options.seed ?? randomSeed(),
        rng: 'numpy',
        init: null,
        edit: null,
      },
    }, place);
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
