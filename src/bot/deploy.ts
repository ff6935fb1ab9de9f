// Registering the slash commands with Discord: globally, or to one guild (instant, for
// development).
import { Routes, type REST } from 'discord.js';
import { COMMANDS } from './commands/index.js';

/** Replaces the registered commands with ours; returns how many Discord now has. */
export async function deployCommands(rest: REST, applicationId: string, guildId?: string): Promise<number> {
  const route = guildId === undefined ? Routes.applicationCommands(applicationId) : Routes.applicationGuildCommands(applicationId, guildId);
  const registered = (await rest.put(route, { body: COMMANDS.map((c) => c.data) })) as unknown[];
  return registered.length;
}
