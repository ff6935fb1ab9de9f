// Dispatches every interaction to its command or button: it enforces what the handler
// declares about access (access.ts) before the handler runs, loading the job of job-bound
// handlers within the response budget, and sends every error through errors.ts. Nothing
// thrown here escapes: the process never crashes on an interaction.
import type { AutocompleteInteraction, ButtonInteraction, ChatInputCommandInteraction, Interaction } from 'discord.js';
import type { Job } from '../db/index.js';
import { parseCustomId } from '../discord/custom-ids.js';
import { enforceAdmin, enforceJobAccess } from './access.js';
import { BUTTONS_BY_ACTION } from './buttons/index.js';
import { COMMANDS_BY_NAME } from './commands/index.js';
import type { BotContext } from './context.js';
import { withinBudget } from './deadline.js';
import { replyWithError, UserError } from './errors.js';
import { jobFromButton, jobFromTypedId } from './lookup.js';
import type { SlashCommand } from './types.js';

async function answerAutocomplete(ctx: BotContext, interaction: AutocompleteInteraction): Promise<void> {
  try {
    const command = COMMANDS_BY_NAME.get(interaction.commandName);
    if (command?.autocomplete) await command.autocomplete(ctx, interaction);
    else await interaction.respond([]);
  } catch (error) {
    ctx.logger.warn({ err: error, command: interaction.commandName }, 'autocomplete failed');
    if (!interaction.responded) await interaction.respond([]).catch(() => undefined);
  }
}

async function runCommand(ctx: BotContext, interaction: ChatInputCommandInteraction, command: SlashCommand): Promise<void> {
  switch (command.access) {
    case 'everyone':
      return command.execute(ctx, interaction);
    case 'admin':
      enforceAdmin(ctx, interaction, [interaction.commandName, interaction.options.getSubcommand(false)].filter(Boolean).join(' '));
      return command.execute(ctx, interaction);
    case 'owner':
    case 'ownerOrAdmin': {
      const typed = interaction.options.get(command.jobOption)?.value;
      if (typeof typed !== 'string') throw new UserError(`\`${command.jobOption}\` is required.`);
      const access = command.access;
      const job = await withinBudget(
        ctx,
        interaction,
        jobFromTypedId(ctx, typed).then((found) => {
          enforceJobAccess(ctx, interaction, access, found, 'command');
          return found;
        }),
      );
      return command.execute(ctx, interaction, job);
    }
  }
}

async function runButton(ctx: BotContext, interaction: ButtonInteraction): Promise<void> {
  const parsed = parseCustomId(interaction.customId);
  if (parsed === null) throw new UserError('This button is not one of mine, or it is damaged.');
  const handler = BUTTONS_BY_ACTION.get(parsed.action);
  if (handler === undefined) throw new Error(`no handler for button action ${parsed.action}`);
  const job: Job = await withinBudget(
    ctx,
    interaction,
    jobFromButton(ctx, parsed.jobId).then((found) => {
      enforceJobAccess(ctx, interaction, handler.access, found, 'button');
      return found;
    }),
  );
  await handler.execute(ctx, interaction, parsed, job);
}

export async function handleInteraction(ctx: BotContext, interaction: Interaction): Promise<void> {
  if (interaction.isAutocomplete()) {
    await answerAutocomplete(ctx, interaction);
    return;
  }
  if (!interaction.isRepliable()) return;
  const startedAt = ctx.clock();
  ctx.responseBudget.arrivals.set(interaction, startedAt);
  const name = interaction.isChatInputCommand() ? `/${interaction.commandName}` : interaction.isButton() ? interaction.customId : `type ${interaction.type}`;
  try {
    if (interaction.isChatInputCommand()) {
      const command = COMMANDS_BY_NAME.get(interaction.commandName);
      if (command === undefined) throw new UserError(`I do not know the command /${interaction.commandName.slice(0, 32)}.`);
      await runCommand(ctx, interaction, command);
    } else if (interaction.isButton()) {
      await runButton(ctx, interaction);
    } else {
      throw new UserError('I cannot handle this kind of interaction.');
    }
  } catch (error) {
    await replyWithError(interaction, error, ctx.logger);
  }
  ctx.logger.debug({ interaction: name, userId: interaction.user.id, ms: ctx.clock() - startedAt }, 'interaction handled');
}
