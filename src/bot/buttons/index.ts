// Every button handler, by the action its custom_id names (src/discord/custom-ids.ts).
import type { ButtonInteraction } from 'discord.js';
import type { ButtonAction } from '../../discord/custom-ids.js';
import type { BotContext } from '../context.js';
import type { ButtonHandler } from '../types.js';
import { cancel } from './cancel.js';
import { replay } from './replay.js';
import { reroll } from './reroll.js';
import { upscale } from './upscale.js';
import { variation } from './variation.js';

// Each handler takes only its own action's data; the map hands it exactly that action, which
// TypeScript cannot relate across the union, hence the one cast.
const HANDLERS = [upscale, variation, reroll, cancel, replay] as unknown as readonly ButtonHandler[];
const BY_ACTION = new Map(HANDLERS.map((h) => [h.action, h]));

/** Runs the handler of a parsed button action. */
export async function runButton(ctx: BotContext, interaction: ButtonInteraction, parsed: ButtonAction): Promise<void> {
  const handler = BY_ACTION.get(parsed.action);
  if (handler === undefined) throw new Error(`no handler for button action ${parsed.action}`);
  await handler.execute(ctx, interaction, parsed);
}
