// 🔄 (and "Rerun" on a single image): the same request with a new random seed.
import { randomSeed } from '../../contract/index.js';
import { jobParams } from '../../db/index.js';
import { submitGeneration } from '../submit.js';
import type { ButtonHandler } from '../types.js';

export const reroll: ButtonHandler<'reroll'> = {
  action: 'reroll',
  access: 'owner',
  posts: true,

  async execute(ctx, interaction, _parsed, parent, place) {
    const params = { ...jobParams(parent), seed: randomSeed() };
    await submitGeneration(ctx, interaction, { kind: 'reroll', params, parent: { jobId: parent.id, index: null } }, place);
  },
};
