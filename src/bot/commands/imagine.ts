// /imagine prompt [negative] [seed] [steps] [guidance] [sampler] [aspect] [count] [model] [image] [image_strength]
// The prompt may carry Midjourney's inline parameters (`--ar 16:9 --no trees --seed 42`),
// `{a, b}` choices (one job each) and AUTOMATIC1111 syntax (read by the pipeline); the
// user's /prefer defaults and suffix apply (prompts.ts). Every field is validated by the
// job contract when each job is created (submit.ts), with the limits Discord is told about.
// With `image`, the user's picture (fetched from Discord's CDN only: attachments.ts) is
// stored and each job starts from it, at its aspect ratio.
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { LIMITS, numberProblem, randomSeed, SAMPLERS } from '../../contract/index.js';
import { getPreferences, storeInputImage } from '../../db/index.js';
import { fetchPicture } from '../attachments.js';
import { withinBudget } from '../deadline.js';
import { UserError } from '../errors.js';
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
  .addStringOption((o) =>
    o.setName('prompt').setDescription('What to draw').setRequired(true).setMinLength(1).setMaxLength(LIMITS.promptChars),
  )
  .addStringOption((o) => o.setName('negative').setDescription('What to keep out of the image').setMaxLength(LIMITS.promptChars))
  .addIntegerOption((o) =>
    o
      .setName('seed')
      .setDescription('Seed of the first image (random by default)')
      .setMinValue(LIMITS.seed.min)
      .setMaxValue(LIMITS.seed.max),
  )
  .addIntegerOption((o) =>
    o
      .setName('steps')
      .setDescription(`Denoising steps (default ${DEFAULTS.steps})`)
      .setMinValue(LIMITS.steps.min)
      .setMaxValue(LIMITS.steps.max),
  )
  .addNumberOption((o) =>
    o
      .setName('guidance')
      .setDescription(`How closely to follow the prompt (default ${DEFAULTS.guidance})`)
      .setMinValue(LIMITS.guidance.min)
      .setMaxValue(LIMITS.guidance.max),
  )
  .addStringOption((o) => o.setName('sampler').setDescription("Sampler (the model's default if omitted)").setAutocomplete(true))
  .addStringOption((o) =>
    o
      .setName('aspect')
      .setDescription('Aspect ratio (default 1:1; --ar W:H takes any)')
      .addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))),
  )
  .addIntegerOption((o) =>
    o
      .setName('count')
      .setDescription(`Number of images (default ${DEFAULTS.count})`)
      .setMinValue(LIMITS.count.min)
      .setMaxValue(LIMITS.count.max),
  )
  .addStringOption((o) => o.setName('model').setDescription('Model (the default if omitted)').setAutocomplete(true))
  .addAttachmentOption((o) => o.setName('image').setDescription('A picture to start from (PNG, JPEG or WebP)'))
  .addNumberOption((o) =>
    o
      .setName('image_strength')
      .setDescription(`How much of the picture to change (default ${LIMITS.imageStrength.default}; 0.05 keeps it, 1 ignores it)`)
      .setMinValue(LIMITS.imageStrength.min)
      .setMaxValue(LIMITS.imageStrength.max),
  )
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
  image: typed.text('image').optional(),
  image_strength: typed.number('image_strength').optional(),
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
    const options = parseOptions(schema, optionValues(interaction.options.data));
    const strength =
      options.image_strength === undefined ? null : numberProblem('image_strength', options.image_strength, LIMITS.imageStrength);
    if (strength !== null) throw new UserError(strength);
    return options;
  },

  async execute(ctx, interaction, options, place) {
    const { prompt, image, image_strength: imageStrength, ...explicit } = options;
    const attachment = image === undefined ? null : interaction.options.getAttachment('image');
    if (image !== undefined && attachment === null) throw new UserError('`image` must be an attached file.');
    const [preferences, picture] = await withinBudget(
      ctx,
      interaction,
      Promise.all([getPreferences(ctx.db, interaction.user.id), attachment === null ? null : fetchPicture(attachment.url, ctx.config)]),
    );
    const requests = await requestsFromPrompt(ctx, {
      text: prompt,
      explicit: { ...explicit, imageStrength },
      base: { kind: 'defaults', preferences },
      maxPrompts: Math.min(ctx.config.MAX_PERMUTATIONS, ctx.config.MAX_JOBS_PER_USER),
      seed: randomSeed,
      ...(picture === null ? {} : { pictureRatio: picture.width / picture.height }),
    });
    // Stored once, before the jobs that start from it: reruns of them stay exact.
    const inputId = picture === null ? null : await storeInputImage(ctx.db, { userId: interaction.user.id, ...picture });
    await submitGenerations(
      ctx,
      interaction,
      requests.map(({ imageStrength: strength, ...params }) => ({
        kind: 'imagine' as const,
        parent: null,
        params: { ...params, init: inputId === null ? null : { inputId, strength: strength ?? LIMITS.imageStrength.default }, edit: null },
      })),
      place,
    );
  },

  async autocomplete(ctx, interaction) {
    const focused = interaction.options.getFocused(true);
    const models = await ctx.models.list();
    if (focused.name === 'model') {
      await interaction.respond(
        matchingChoices(
          models.map((m) => m.name),
          String(focused.value),
        ),
      );
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
