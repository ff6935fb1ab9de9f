// The models live workers serve (from their Redis heartbeats), cached briefly so a burst
// of /imagine does not scan Redis once per interaction.
import type { Redis } from 'ioredis';
import type { ModelInfo } from '../contract/index.js';
import { liveModels } from '../queue/index.js';

export interface ModelCatalogOptions {
  redis: Redis;
  prefix: string;
  /** How long one scan is reused. @defaultValue 2000 */
  cacheMs?: number;
  /** Unix milliseconds. @defaultValue Date.now */
  clock?: () => number;
}

export class ModelCatalog {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly cacheMs: number;
  private readonly clock: () => number;
  private cached: { at: number; models: Promise<ModelInfo[]> } | null = null;

  constructor(options: ModelCatalogOptions) {
    const { cacheMs = 2000, clock = Date.now } = options;
    if (!Number.isInteger(cacheMs) || cacheMs < 0) throw new RangeError(`cacheMs must be a whole number >= 0, got ${cacheMs}`);
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.cacheMs = cacheMs;
    this.clock = clock;
  }

  /** Models served by at least one live worker, sorted by name. */
  list(): Promise<ModelInfo[]> {
    const now = this.clock();
    if (this.cached === null || now - this.cached.at > this.cacheMs) {
      const models = liveModels(this.redis, this.prefix);
      this.cached = { at: now, models };
      // A failed scan is not cached: the next call tries again.
      models.catch(() => {
        if (this.cached?.models === models) this.cached = null;
      });
    }
    return this.cached.models;
  }

  /** The live model with this name, or null. */
  async find(name: string): Promise<ModelInfo | null> {
    return (await this.list()).find((m) => m.name === name) ?? null;
  }
}
