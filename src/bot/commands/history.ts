// /history: the user's recent jobs (ephemeral).
import { ApplicationIntegrationType, InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { listUserJobs } from '../../db/index.js';
import { escapeMarkdown } from '../../discord/messages.js';
import { discordTime } from '../submit.js';
import type { PlainCommand } from '../types.js';

const SHOWN = 10;
const PROMPT_CHARS = 80;

const data = new SlashCommandBuilder()
  .setName('history')
  .setDescription('Your recent jobs: ids, prompts, seeds, status')
  .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
  .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
  .toJSON();

export const history: PlainCommand = {
  data,
  access: 'everyone',
  posts: false,

  async execute(ctx, interaction) {
    const jobs = await listUserJobs(ctx.db, interaction.user.id, SHOWN);
    const lines = jobs.map((job) => {
      const prompt = job.prompt.length > PROMPT_CHARS ? `${job.prompt.slice(0, PROMPT_CHARS)}…` : job.prompt;
      const seeds = job.count === 1 ? `seed ${job.seed}` : `seeds ${job.seed}+${job.count - 1}`;
      return `\`${job.id}\` ${job.status} · ${job.kind} · ${seeds} · ${discordTime(job.createdAt)}\n  ${escapeMarkdown(prompt.replace(/\s+/g, ' '))}`;
    });
    const content =
      lines.length === 0
        ? 'You have no jobs yet. Try /imagine.'
        : `Your last ${lines.length} job${lines.length === 1 ? '' : 's'}:\n${lines.join('\n')}`;
    await interaction.reply({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};
