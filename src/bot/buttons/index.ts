// Every button handler, by the action its custom_id names (src/discord/custom-ids.ts).
import type { ButtonAction } from '../../discord/custom-ids.js';
import type { ButtonHandler } from '../types.js';
import { cancel } from './cancel.js';
import { edit } from './edit.js';
import { region } from './region.js';
import { replay } from './replay.js';
import { reroll } from './reroll.js';
import { select } from './select.js';
import { variation } from './variation.js';

// Each handler takes only its own action's data; the map hands it exactly that action, which
// TypeScript cannot relate across the union, hence the one cast.
const HANDLERS = [select, variation, reroll, cancel, replay, edit, region] as unknown as readonly ButtonHandler[];

export const BUTTONS_BY_ACTION: ReadonlyMap<ButtonAction['action'], ButtonHandler> = new Map(HANDLERS.map((h) => [h.action, h]));
