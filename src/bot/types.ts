// The shapes of command and button modules (one file each, like the discord.js guide).
// Each declares who may use it (`access`, access.ts) and whether it makes something appear
// in a channel or spends quota (`posts`: then the place's rules apply, rules.ts); the
// dispatcher enforces both before `execute`, and hands job-bound handlers the job it
// loaded to check. A command's `parse` reads its options without I/O, before any database
// check, so a mistake is answered at once.
import type {
  AutocompleteInteraction,
  ButtonInteraction,
  ChatInputCommandInteraction,
  ModalSubmitInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { Job } from '../db/index.js';
import type { ButtonAction } from '../discord/custom-ids.js';
import type { CommandAccess, JobAccess } from './access.js';
import type { BotContext } from './context.js';
import type { Place } from './rules.js';

interface CommandBase<O> {
  /** The definition registered with Discord (npm run commands:deploy). */
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  posts: boolean;
  /** The options, read and checked without I/O; throws UserError. Commands without it get undefined. */
  parse?(interaction: ChatInputCommandInteraction): O;
  autocomplete?(ctx: BotContext, interaction: AutocompleteInteraction): Promise<void>;
}

/** A command that is not about one job. `place` holds what the rules loaded (guild null when `posts` is false). */
export interface PlainCommand<O = undefined> extends CommandBase<O> {
  access: CommandAccess;
  execute(ctx: BotContext, interaction: ChatInputCommandInteraction, options: O, place: Place): Promise<void>;
}

/** A command about one job, named by its `jobOption` (the id users type). */
export interface JobCommand<O = undefined> extends CommandBase<O> {
  access: JobAccess;
  jobOption: string;
  execute(ctx: BotContext, interaction: ChatInputCommandInteraction, options: O, job: Job, place: Place): Promise<void>;
}

// Methods are checked bivariantly, so a command with its own options type fits here.
export type SlashCommand = PlainCommand<unknown> | JobCommand<unknown>;

/**
 * A button of a job message: every custom_id names its job. It runs for the click, and for the
 * submit of a modal the click opened (remix, or the handler's own), checked the same way.
 */
export interface ButtonHandler<A extends ButtonAction['action'] = ButtonAction['action']> {
  action: A;
  access: JobAccess;
  posts: boolean;
  /** With the user's remix preference on, a click this says yes to opens the job's prompt for editing first (remix.ts). */
  remixable?(parsed: Extract<ButtonAction, { action: A }>): boolean;
  execute(
    ctx: BotContext,
    interaction: ButtonInteraction | ModalSubmitInteraction,
    parsed: Extract<ButtonAction, { action: A }>,
    job: Job,
    place: Place,
  ): Promise<void>;
}
