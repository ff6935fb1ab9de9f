// /show job: posts a finished job's result again, with working buttons (everything they
// need is in Postgres, so they work for jobs of any age).
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { resultFile } from '../../contract/index.js';
import { getReplay, listImages } from '../../db/index.js';
import { renderResult } from '../../discord/messages.js';
import { withinBudget } from '../deadline.js';
import { UserError } from '../errors.js';
import { jobChoices } from '../lookup.js';
import { optionValues, parseOptions, text } from '../options.js';
import { respondPublicly } from '../replies.js';
import type { JobCommand } from '../types.js';

const data = new SlashCommandBuilder()
  .setName('show')
  .setDescription("Post a past job's result again, with its buttons")
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .addStringOption((o) => o.setName('job').setDescription('Job id (from the result message or /history)').setRequired(true).setMinLength(1).setMaxLength(40).setAutocomplete(true))
  .toJSON();

const schema = z.strictObject({ job: text('job', { required: true, maxChars: 40 }) });

export const show: JobCommand = {
  data,
  // A DM job's prompt is private; admins may see any.
  access: 'ownerOrAdmin',
  jobOption: 'job',

  async execute(ctx, interaction, job) {
    parseOptions(schema, optionValues(interaction.options.data));
    const payload = await withinBudget(
      ctx,
      interaction,
      (async () => {
        if (job.status !== 'succeeded') throw new UserError(`Job \`${job.id}\` is ${job.status}; there is no result to show.`);
        const images = await listImages(ctx.db, job.id);
        if (images.length === 0) throw new UserError(`Job \`${job.id}\` has no stored images.`);
        const file = await resultFile(images, ctx.config.DISCORD_MAX_UPLOAD_BYTES, job.id);
        const replay = (await getReplay(ctx.db, job.id)) !== null;
        return renderResult(job, { file, seeds: images.map((i) => i.seed), replay });
      })(),
    );
    await respondPublicly(interaction, payload);
  },

  async autocomplete(ctx, interaction) {
    await interaction.respond(await jobChoices(ctx, interaction.user.id, String(interaction.options.getFocused()), true));
  },
};
