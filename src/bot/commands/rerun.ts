// /rerun job [image] [seed]: the exact request of a past job again (same seed: the same
// bytes), optionally one image of it or another seed.
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { LIMITS } from '../../contract/index.js';
import { ImageIndexError, rebuildRequest } from '../../db/index.js';
import { UserError } from '../errors.js';
import { jobChoices } from '../lookup.js';
import { optionValues, parseOptions, text, typed, whole } from '../options.js';
import { submitGeneration } from '../submit.js';
import type { JobCommand } from '../types.js';

const data = new SlashCommandBuilder()
  .setName('rerun')
  .setDescription('Run a past job again exactly (same seed: identical images)')
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .addStringOption((o) =>
    o
      .setName('job')
      .setDescription('Job id (from the result message or /history)')
      .setRequired(true)
      .setMinLength(1)
      .setMaxLength(40)
      .setAutocomplete(true),
  )
  .addIntegerOption((o) =>
    o.setName('image').setDescription(`Only this image of the job (1-${LIMITS.count.max})`).setMinValue(1).setMaxValue(LIMITS.count.max),
  )
  .addIntegerOption((o) =>
    o.setName('seed').setDescription('Use this seed instead').setMinValue(LIMITS.seed.min).setMaxValue(LIMITS.seed.max),
  )
  .toJSON();

const schema = z.strictObject({
  job: text('job', { required: true, maxChars: 40 }),
  image: whole('image', 1, LIMITS.count.max).optional(),
  seed: typed.number('seed').optional(),
});

export const rerun: JobCommand<z.infer<typeof schema>> = {
  data,
  access: 'ownerOrAdmin',
  jobOption: 'job',
  posts: true,

  parse(interaction) {
    return parseOptions(schema, optionValues(interaction.options.data));
  },

  async execute(ctx, interaction, options, job, place) {
    const index = options.image === undefined ? undefined : options.image - 1;
    let params;
    try {
      params = await rebuildRequest(ctx.db, job.id, { index, seed: options.seed });
    } catch (error) {
      if (error instanceof ImageIndexError)
        throw new UserError(`Job \`${job.id}\` has ${job.count} image${job.count === 1 ? '' : 's'}; there is no image ${options.image}.`);
      throw error;
    }
    if (params === null) throw new UserError(`There is no job \`${job.id}\`.`);
    await submitGeneration(ctx, interaction, { kind: 'rerun', params, parent: { jobId: job.id, index: index ?? null } }, place);
  },

  async autocomplete(ctx, interaction) {
    await interaction.respond(await jobChoices(ctx, interaction.user.id, String(interaction.options.getFocused()), false));
  },
};
