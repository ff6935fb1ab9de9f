// /imagine prompt [negative] [seed] [steps] [guidance] [sampler] [aspect] [count] [model]
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { decimal, oneOf, optionValues, parseOptions, text, whole } from '../options.js';
import { ASPECTS, sizeForAspect } from '../sizes.js';
import { randomSeed, submitGeneration } from '../submit.js';
import type { SlashCommand } from '../types.js';
import type { BotContext } from '../context.js';
import type { ModelInfo } from '../../queue/index.js';
// The pipeline's own limits (a module without ONNX Runtime), so Discord's option bounds match what workers accept.
import { MAX_GUIDANCE, MAX_SEED, MAX_STEPS } from '../../pipeline/request.js';

export const PROMPT_MAX = 1000;
const DEFAULT_STEPS = 20;
const DEFAULT_GUIDANCE = 7;
const DEFAULT_COUNT = 4;

const data = new SlashCommandBuilder()
  .setName('imagine')
  .setDescription('Generate images from a prompt')
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true).setMinLength(1).setMaxLength(PROMPT_MAX))
  .addStringOption((o) => o.setName('negative').setDescription('What to keep out of the image').setMaxLength(PROMPT_MAX))
  .addIntegerOption((o) => o.setName('seed').setDescription('Seed of the first image (random by default)').setMinValue(0).setMaxValue(MAX_SEED))
  .addIntegerOption((o) => o.setName('steps').setDescription(`Denoising steps (default ${DEFAULT_STEPS})`).setMinValue(1).setMaxValue(MAX_STEPS))
  .addNumberOption((o) => o.setName('guidance').setDescription(`How closely to follow the prompt (default ${DEFAULT_GUIDANCE})`).setMinValue(0).setMaxValue(MAX_GUIDANCE))
  .addStringOption((o) => o.setName('sampler').setDescription("Sampler (the model's default if omitted)").setAutocomplete(true))
  .addStringOption((o) => o.setName('aspect').setDescription('Aspect ratio (default 1:1)').addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))))
  .addIntegerOption((o) => o.setName('count').setDescription(`Number of images (default ${DEFAULT_COUNT})`).setMinValue(1).setMaxValue(4))
  .addStringOption((o) => o.setName('model').setDescription('Model (the default if omitted)').setAutocomplete(true))
  .toJSON();

const schema = z.strictObject({
  prompt: text('prompt', 1, PROMPT_MAX),
  negative: text('negative', 0, PROMPT_MAX).default(''),
  seed: whole('seed', 0, MAX_SEED).optional(),
  steps: whole('steps', 1, MAX_STEPS).default(DEFAULT_STEPS),
  guidance: decimal('guidance', 0, MAX_GUIDANCE).default(DEFAULT_GUIDANCE),
  sampler: text('sampler', 1, 40).optional(),
  aspect: oneOf('aspect', ASPECTS).default('1:1'),
  count: whole('count', 1, 4).default(DEFAULT_COUNT),
  model: text('model', 1, 64).optional(),
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

function matchingChoices(values: string[], typed: string): { name: string; value: string }[] {
  const needle = typed.toLowerCase();
  const starts = values.filter((v) => v.toLowerCase().startsWith(needle));
  const contains = values.filter((v) => !v.toLowerCase().startsWith(needle) && v.toLowerCase().includes(needle));
  return [...starts, ...contains]
    .slice(0, 25)
    .map((v) => ({ name: v, value: v }));
}

export const imagine: SlashCommand = {
  data,

  async execute(ctx, interaction) {
    const options = parseOptions(schema, optionValues(interaction.options.data));
    const model = await resolveModel(ctx, options.model);
    const sampler = options.sampler ?? model.defaultSampler;
    if (!model.samplers.includes(sampler)) {
      throw new UserError(`Unknown sampler \`${sampler.slice(0, 40)}\`. Samplers of \`${model.name}\`: ${model.samplers.join(', ')}.`);
    }
    const { width, height } = sizeForAspect(options.aspect, model, ctx.config.MAX_PIXELS);
    await submitGeneration(ctx, interaction, {
      kind: 'imagine',
      parent: null,
      params: {
        prompt: options.prompt,
        negativePrompt: options.negative,
        model: model.name,
        sampler,
        steps: options.steps,
        guidance: options.guidance,
        width,
        height,
        count: options.count,
        seed: options.seed ?? randomSeed(),
        rng: 'numpy',
        init: null,
      },
    });
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
