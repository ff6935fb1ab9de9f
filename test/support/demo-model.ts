import type { GenerationRequest } from '../../src/contract/index.js';

/** The demo model's folder; TEST_MODELS_DIR points tests at another models folder (a scratch export). */
export const DEMO_MODEL_DIR = `${process.env.TEST_MODELS_DIR ?? 'models'}/shapes-demo`;

/** A small plain request for the demo model at its native 128x128; tests override what they vary. */
export function demoRequest(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    prompt: 'a red circle on a blue background',
    negativePrompt: '',
    seed: 3,
    steps: 8,
    guidance: 5,
    sampler: 'euler',
    width: 128,
    height: 128,
    count: 1,
    rng: 'numpy',
    ...overrides,
  };
}
