// Dispatches every interaction to its command or button: it enforces what the handler
// declares about access (access.ts) before the handler runs, loading the job of job-bound
// handlers within the response budget, and sends every error through errors.ts. Nothing
// thrown here escapes: the process never crashes on an interaction.
import type {
  AutocompleteInteraction,
  ButtonInteraction,
  ChatInputCommandInteraction,
  Interaction,
  ModalSubmitInteraction,
} from 'discord.js';
import { getPreferences, type Job } from '../db/index.js';
import { parseCustomId, parseModalId, type ButtonAction } from '../discord/custom-ids.js';
import { enforceCommandAccess, enforceJobAccess } from './access.js';
import { BUTTONS_BY_ACTION } from './buttons/index.js';
import { COMMANDS_BY_NAME } from './commands/index.js';
import type { BotContext } from './context.js';
import { withinBudget } from './deadline.js';
import { replyWithError, UserError } from './errors.js';
import { jobFromButton, jobFromTypedId } from './lookup.js';
import { remixModal } from './remix.js';
import { enforceRules, type Place } from './rules.js';
import type { SlashCommand } from './types.js';

const NOWHERE: Place = { guild: null };

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
  const name = `/${interaction.commandName}`;
  if ('jobOption' in command) {
    const options = command.parse?.(interaction);
    const typed = interaction.options.get(command.jobOption)?.value;
    if (typeof typed !== 'string') throw new UserError(`\`${command.jobOption}\` is required.`);
    const access = command.access;
    const { job, place } = await withinBudget(
      ctx,
      interaction,
      jobFromTypedId(ctx, typed).then(async (found) => {
        enforceJobAccess(ctx, interaction, access, found, { kind: 'command', name });
        return { job: found, place: command.posts ? await enforceRules(ctx, interaction, found) : NOWHERE };
      }),
    );
    return command.execute(ctx, interaction, options, job, place);
  }
  enforceCommandAccess(ctx, interaction, command.access, name, interaction.options.getSubcommand(false));
  const options = command.parse?.(interaction);
  const place = command.posts ? await withinBudget(ctx, interaction, enforceRules(ctx, interaction, null)) : NOWHERE;
  return command.execute(ctx, interaction, options, place);
}

/** A click on a button, or the submit of a modal a button opened: the same handler, the same checks. */
async function runButton(ctx: BotContext, interaction: ButtonInteraction | ModalSubmitInteraction): Promise<void> {
  const parsed: ButtonAction | null = interaction.isButton() ? parseCustomId(interaction.customId) : parseModalId(interaction.customId);
  if (parsed === null) throw new UserError('This button is not one of mine, or it is damaged.');
  const handler = BUTTONS_BY_ACTION.get(parsed.action);
  if (handler === undefined) throw new Error(`no handler for button action ${parsed.action}`);
  const remixing = interaction.isButton() && handler.remixable?.(parsed) === true;
  const { job, place, remix } = await withinBudget(
    ctx,
    interaction,
    jobFromButton(ctx, parsed.jobId).then(async (found: Job) => {
      enforceJobAccess(ctx, interaction, handler.access, found, { kind: 'button', name: `button ${parsed.action}` });
      const [rules, preferences] = await Promise.all([
        handler.posts ? enforceRules(ctx, interaction, found) : NOWHERE,
        remixing ? getPreferences(ctx.db, interaction.user.id) : null,
      ]);
      return { job: found, place: rules, remix: preferences?.remix === true };
    }),
  );
  if (remix && interaction.isButton()) {
    // A modal must be the first answer: after a deferral there is no way to show it.
    if (interaction.deferred) throw new UserError('Remix is on, but your prompt could not be opened in time. Please click again.');
    await interaction.showModal(remixModal(parsed, job));
    return;
  }
  await handler.execute(ctx, interaction, parsed, job, place);
}

export async function handleInteraction(ctx: BotContext, interaction: Interaction): Promise<void> {
  if (interaction.isAutocomplete()) {
    await answerAutocomplete(ctx, interaction);
    return;
  }
  if (!interaction.isRepliable()) return;
  const startedAt = ctx.clock();
  ctx.responseBudget.arrivals.set(interaction, startedAt);
  const name = interaction.isChatInputCommand()
    ? `/${interaction.commandName}`
    : interaction.isButton()
      ? interaction.customId
      : `type ${interaction.type}`;
  try {
    if (interaction.isChatInputCommand()) {
      const command = COMMANDS_BY_NAME.get(interaction.commandName);
      if (command === undefined) throw new UserError(`I do not know the command /${interaction.commandName.slice(0, 32)}.`);
      await runCommand(ctx, interaction, command);
    } else if (interaction.isButton() || interaction.isModalSubmit()) {
      await runButton(ctx, interaction);
    } else {
      throw new UserError('I cannot handle this kind of interaction.');
    }
  } catch (error) {
    await replyWithError(interaction, error, ctx.logger);
  }
  ctx.logger.debug({ interaction: name, userId: interaction.user.id, ms: ctx.clock() - startedAt }, 'interaction handled');
}
