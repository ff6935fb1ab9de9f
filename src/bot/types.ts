// The shapes of command and button modules (one file each, like the discord.js guide).
import type {
  AutocompleteInteraction,
  ButtonInteraction,
  ChatInputCommandInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { ButtonAction } from '../discord/custom-ids.js';
import type { BotContext } from './context.js';

export interface SlashCommand {
  /** The definition registered with Discord (npm run commands:deploy). */
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(ctx: BotContext, interaction: ChatInputCommandInteraction): Promise<void>;
  autocomplete?(ctx: BotContext, interaction: AutocompleteInteraction): Promise<void>;
}

export interface ButtonHandler<A extends ButtonAction['action'] = ButtonAction['action']> {
  action: A;
  execute(ctx: BotContext, interaction: ButtonInteraction, parsed: Extract<ButtonAction, { action: A }>): Promise<void>;
}
