// Every slash command, by name.
import type { SlashCommand } from '../types.js';
import { ban } from './ban.js';
import { history } from './history.js';
import { imagine } from './imagine.js';
import { prefer } from './prefer.js';
import { quotaAdmin } from './quota-admin.js';
import { quota } from './quota.js';
import { rerun } from './rerun.js';
import { settings } from './settings.js';
import { show } from './show.js';
import { unban } from './unban.js';

export const COMMANDS: readonly SlashCommand[] = [imagine, rerun, show, history, quota, prefer, quotaAdmin, settings, ban, unban];

export const COMMANDS_BY_NAME: ReadonlyMap<string, SlashCommand> = new Map(COMMANDS.map((c) => [c.data.name, c]));
