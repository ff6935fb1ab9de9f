// 🔄 (and "Rerun" on a single image): the same request with a new random seed.
import { jobParams } from '../../db/index.js';
import { jobFromButton } from '../lookup.js';
import { requireButtonOwner } from '../permissions.js';
import { randomSeed, submitGeneration } from '../submit.js';
import type { ButtonHandler } from '../types.js';

export const reroll: ButtonHandler<'reroll'> = {
  action: 'reroll',

  async execute(ctx, interaction, { jobId }) {
    const parent = await jobFromButton(ctx, jobId);
    requireButtonOwner(ctx.config, interaction, parent, { admins: false });
    const params = { ...jobParams(parent), seed: randomSeed() };
    await submitGeneration(ctx, interaction, { kind: 'reroll', params, parent: { jobId: parent.id, index: null } });
  },
};
