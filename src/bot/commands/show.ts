// /show job: posts a finished job's result again, with working buttons (everything they
// need is in Postgres, so they work for jobs of any age).
import { ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import { getReplay, listImages } from '../../db/index.js';
import { renderResult } from '../../discord/messages.js';
import { UserError } from '../errors.js';
import { jobChoices, jobFromTypedId } from '../lookup.js';
import { optionValues, parseOptions, text } from '../options.js';
import { requireJobAccess } from '../permissions.js';
import { respondPublicly } from '../replies.js';
import { resultFile } from '../results.js';
import { withinBudget } from '../submit.js';
import type { SlashCommand } from '../types.js';

const data = new SlashCommandBuilder()
  .setName('show')
  .setDescription("Post a past job's result again, with its buttons")
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .addStringOption((o) => o.setName('job').setDescription('Job id (from the result message or /history)').setRequired(true).setMinLength(1).setMaxLength(40).setAutocomplete(true))
  .toJSON();

const schema = z.strictObject({ job: text('job', 1, 40) });

export const show: SlashCommand = {
  data,

  async execute(ctx, interaction) {
    const options = parseOptions(schema, optionValues(interaction.options.data));
    const payload = await withinBudget(
      ctx,
      interaction,
      (async () => {
        const job = await jobFromTypedId(ctx, options.job);
        requireJobAccess(ctx.config, interaction, job);
        if (job.status !== 'succeeded') throw new UserError(`Job \`${job.id}\` is ${job.status}; there is no result to show.`);
        const images = await listImages(ctx.db, job.id);
        const file = await resultFile(job, images, ctx.config.DISCORD_MAX_UPLOAD_BYTES);
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
