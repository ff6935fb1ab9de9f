// The shapes of command and button modules (one file each, like the discord.js guide).
// Each declares who may use it (access.ts); the dispatcher enforces it before `execute`,
// and hands job-bound handlers the job it loaded to check.
import type {
  AutocompleteInteraction,
  ButtonInteraction,
  ChatInputCommandInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { Job } from '../db/index.js';
import type { ButtonAction } from '../discord/custom-ids.js';
import type { JobAccess } from './access.js';
import type { BotContext } from './context.js';

interface CommandBase {
  /** The definition registered with Discord (npm run commands:deploy). */
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  autocomplete?(ctx: BotContext, interaction: AutocompleteInteraction): Promise<void>;
}

/** A command anyone may use, or only bot admins. */
export interface PlainCommand extends CommandBase {
  access: 'everyone' | 'admin';
  execute(ctx: BotContext, interaction: ChatInputCommandInteraction): Promise<void>;
}

/** A command about one job, named by its `jobOption` (the id users type). */
export interface JobCommand extends CommandBase {
  access: JobAccess;
  jobOption: string;
  execute(ctx: BotContext, interaction: ChatInputCommandInteraction, job: Job): Promise<void>;
}

export type SlashCommand = PlainCommand | JobCommand;

/** A button of a job message: every custom_id names its job. */
export interface ButtonHandler<A extends ButtonAction['action'] = ButtonAction['action']> {
  action: A;
  access: JobAccess;
  execute(ctx: BotContext, interaction: ButtonInteraction, parsed: Extract<ButtonAction, { action: A }>, job: Job): Promise<void>;
}
