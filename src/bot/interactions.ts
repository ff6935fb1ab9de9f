// Dispatches every interaction to its command or button, and sends every error through
// errors.ts. Nothing thrown here escapes: the process never crashes on an interaction.
import type { AutocompleteInteraction, Interaction } from 'discord.js';
import { parseCustomId } from '../discord/custom-ids.js';
import { runButton } from './buttons/index.js';
import { COMMANDS_BY_NAME } from './commands/index.js';
import type { BotContext } from './context.js';
import { replyWithError, UserError } from './errors.js';

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

export async function handleInteraction(ctx: BotContext, interaction: Interaction): Promise<void> {
  if (interaction.isAutocomplete()) {
    await answerAutocomplete(ctx, interaction);
    return;
  }
  if (!interaction.isRepliable()) return;
  const startedAt = ctx.clock();
  const name = interaction.isChatInputCommand() ? `/${interaction.commandName}` : interaction.isButton() ? interaction.customId : `type ${interaction.type}`;
  try {
    if (interaction.isChatInputCommand()) {
      const command = COMMANDS_BY_NAME.get(interaction.commandName);
      if (command === undefined) throw new UserError(`I do not know the command /${interaction.commandName.slice(0, 32)}.`);
      await command.execute(ctx, interaction);
    } else if (interaction.isButton()) {
      const parsed = parseCustomId(interaction.customId);
      if (parsed === null) throw new UserError('This button is not one of mine, or it is damaged.');
      await runButton(ctx, interaction, parsed);
    } else {
      throw new UserError('I cannot handle this kind of interaction.');
    }
  } catch (error) {
    await replyWithError(interaction, error, ctx.logger);
  }
  ctx.logger.debug({ interaction: name, userId: interaction.user.id, ms: ctx.clock() - startedAt }, 'interaction handled');
}
