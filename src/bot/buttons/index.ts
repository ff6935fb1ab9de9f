// Every button handler, by the action its custom_id names (src/discord/custom-ids.ts).
import type { ButtonAction } from '../../discord/custom-ids.js';
import type { BotContext } from '../context.js';
import type { ButtonInteraction } from 'discord.js';
import { cancel } from './cancel.js';
import { replay } from './replay.js';
import { reroll } from './reroll.js';
import { upscale } from './upscale.js';
import { variation } from './variation.js';

/** Runs the handler of a parsed button action. */
export async function runButton(ctx: BotContext, interaction: ButtonInteraction, parsed: ButtonAction): Promise<void> {
  switch (parsed.action) {
    case 'upscale':
      return upscale.execute(ctx, interaction, parsed);
    case 'variation':
      return variation.execute(ctx, interaction, parsed);
    case 'reroll':
      return reroll.execute(ctx, interaction, parsed);
    case 'cancel':
      return cancel.execute(ctx, interaction, parsed);
    case 'replay':
      return replay.execute(ctx, interaction, parsed);
  }
}
