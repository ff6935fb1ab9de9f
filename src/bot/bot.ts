// The discord.js client: Guilds intent only, REST against DISCORD_API_BASE, every
// interaction through handleInteraction, every gateway shard in this one process.
// `stop()` waits for handlers in flight.
import { Client, type ClientOptions, Events, GatewayIntentBits } from 'discord.js';
import { REST_HANDLER_SWEEP_MS } from '../discord/rest.js';
import type { BotContext } from './context.js';
import { handleInteraction } from './interactions.js';

export interface BotOptions {
  context: BotContext;
  token: string;
  /** DISCORD_API_BASE, without the version (discord.js adds /v10). */
  apiBase: string;
  /** SHARD_COUNT: 'auto' (Discord's recommendation, from GET /gateway/bot) or a fixed count. Default 'auto'. */
  shardCount?: 'auto' | number;
}

/** discord.js's options for running every shard of `shardCount` in this process. */
export function shardOptions(shardCount: 'auto' | number): Pick<ClientOptions, 'shards' | 'shardCount'> {
  if (shardCount === 'auto') {
    // discord.js ignores shardCount with shards 'auto', but reads process.env.SHARD_COUNT
    // (ShardingManager's variable, so ours too: 'auto' then) whenever it is left at its default, 1.
    return { shards: 'auto', shardCount: 2 };
  }
  return { shards: Array.from({ length: shardCount }, (_, id) => id), shardCount };
}

export class Bot {
  readonly client: Client;
  private readonly context: BotContext;
  private readonly token: string;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: BotOptions) {
    this.context = options.context;
    this.token = options.token;
    this.client = new Client({
      intents: [GatewayIntentBits.Guilds],
      // The interaction-token routes of every reply would otherwise wait for the hourly sweep.
      rest: { api: options.apiBase, handlerSweepInterval: REST_HANDLER_SWEEP_MS },
      ...shardOptions(options.shardCount ?? 'auto'),
    });
    const { logger } = options.context;
    this.client.on(Events.InteractionCreate, (interaction) => {
      const handled = handleInteraction(this.context, interaction)
        .catch((err) => logger.error({ err, interactionId: interaction.id }, 'interaction handler crashed'))
        .finally(() => this.inFlight.delete(handled));
      this.inFlight.add(handled);
    });
    this.client.on(Events.Error, (err) => logger.error({ err }, 'discord client error'));
    this.client.on(Events.ShardError, (err, shardId) => logger.error({ err, shardId }, 'gateway connection error'));
    this.client.on(Events.Warn, (message) => logger.warn({ message }, 'discord client warning'));
  }

  /** Logs in and resolves once the client is ready. */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    await this.client.login(this.token);
    await ready;
    this.context.logger.info(
      { user: this.client.user?.tag, guilds: this.client.guilds.cache.size, shards: this.client.ws.shards.size },
      'bot ready',
    );
  }

  /** Stops taking interactions, waits for the ones in flight, disconnects. */
  async stop(): Promise<void> {
    this.client.removeAllListeners(Events.InteractionCreate);
    await Promise.allSettled([...this.inFlight]);
    await this.client.destroy();
  }
}
