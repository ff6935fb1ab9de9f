// npm run commands:deploy: registers the slash commands globally, or to DISCORD_GUILD_ID
// when it is set (guild commands update at once; global ones can take a while).
import { config as loadDotenv } from 'dotenv';
import { REST } from 'discord.js';
import { deployCommands } from '../bot/deploy.js';
import { loadConfigOrExit } from '../entry.js';

// .env (when present) fills in unset variables; quiet keeps stdout to JSON log lines.
loadDotenv({ quiet: true });

async function main(): Promise<void> {
  const config = loadConfigOrExit('commands:deploy', process.env, ['discord']);
  const rest = new REST({ api: config.DISCORD_API_BASE }).setToken(config.DISCORD_TOKEN);
  const count = await deployCommands(rest, config.DISCORD_APPLICATION_ID, config.DISCORD_GUILD_ID);
  const where = config.DISCORD_GUILD_ID === undefined ? 'globally' : `to guild ${config.DISCORD_GUILD_ID}`;
  console.log(`registered ${count} commands ${where}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
