// Sample inputs for src/db tests (and for other suites that need a job row).
import { randomInt } from 'node:crypto';
import type { JobParams } from '../../src/contract/index.js';
import type { NewJobInput } from '../../src/db/index.js';

const PROCESS_PART = randomInt(1_000_000_000);
let counter = 0;

/** A fresh snowflake-like id (18 digits): random per process, then a counter. */
export function snowflake(): string {
  counter += 1;
  return `1${String(PROCESS_PART).padStart(9, '0')}${String(counter).padStart(8, '0')}`;
}

export function sampleParams(overrides: Partial<JobParams> = {}): JobParams {
  return {
    prompt: 'a red circle on a blue square',
    negativePrompt: 'blurry',
    model: 'shapes-demo',
    sampler: 'euler_a',
    steps: 12,
    guidance: 7.5,
    width: 64,
    height: 64,
    count: 4,
    seed: 1234,
    rng: 'numpy',
    init: null,
    edit: null,
    ...overrides,
  };
}

/** A job request by `userId` with a new interaction id; cost = count unless overridden. */
export function sampleJobInput(userId: string, overrides: Partial<NewJobInput> = {}): NewJobInput {
  return {
    interactionId: snowflake(),
    interactionToken: `token-${snowflake()}`,
    userId,
    guildId: null,
    channelId: '300000000000000001',
    kind: 'imagine',
    params: sampleParams(),
    maxActiveJobs: 100,
    defaultLimit: 50,
    ...overrides,
  };
}
