// /show job: posts a finished job's result again, with working buttons (everything they
// need is in Postgres, so they work for jobs of any age). Images whose bytes expired are
// regenerated, exactly, by a worker first (a free `restore` job).
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { resultFile } from '../../contract/index.js';
import { getReplay, jobParams, shownImages } from '../../db/index.js';
import { renderResult } from '../../discord/messages.js';
import { withinBudget } from '../deadline.js';
import { UserError } from '../errors.js';
import { jobChoices } from '../lookup.js';
import { optionValues, parseOptions, text } from '../options.js';
import { respondPublicly } from '../replies.js';
import { submitGeneration } from '../submit.js';
import type { JobCommand } from '../types.js';

const data = new SlashCommandBuilder()
  .setName('show')
  .setDescription("Post a past job's result again, with its buttons")
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
  .toJSON();

const schema = z.strictObject({ job: text('job', { required: true, maxChars: 40 }) });

export const show: JobCommand<z.infer<typeof schema>> = {
  data,
  // A DM job's prompt is private; admins may see any.
  access: 'ownerOrAdmin',
  jobOption: 'job',
  posts: true,

  parse(interaction) {
    return parseOptions(schema, optionValues(interaction.options.data));
  },

  async execute(ctx, interaction, _options, job, place) {
    if (job.status !== 'succeeded') throw new UserError(`Job \`${job.id}\` is ${job.status}; there is no result to show.`);
    const images = await withinBudget(ctx, interaction, shownImages(ctx.db, job));
    if (images.length === 0) throw new UserError(`Job \`${job.id}\` has no stored images.`);
    const pngs = images.flatMap((image) => (image.png === null ? [] : [{ png: image.png }]));
    if (pngs.length < images.length) {
      await submitGeneration(
        ctx,
        interaction,
        { kind: 'restore', params: { ...jobParams(job), count: images.length }, parent: { jobId: job.id, index: null }, cost: 0 },
        place,
      );
      return;
    }
    const file = await resultFile(pngs, ctx.config.DISCORD_MAX_UPLOAD_BYTES, job.id);
    const replay = (await getReplay(ctx.db, job.id)) !== null;
    await respondPublicly(interaction, renderResult(job, { file, seeds: images.map((i) => i.seed), replay }));
  },

  async autocomplete(ctx, interaction) {
    await interaction.respond(await jobChoices(ctx, interaction.user.id, String(interaction.options.getFocused()), true));
  },
};
