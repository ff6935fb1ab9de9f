// 🔄 (and "Rerun" on a single image): the same request with a new random seed; with remix
// on, with the prompt as the user edited it.
import { randomSeed } from '../../contract/index.js';
import { jobParams } from '../../db/index.js';
import { remixedRequests, submittedPrompt } from '../remix.js';
import { submitGenerations } from '../submit.js';
import type { ButtonHandler } from '../types.js';

export const reroll: ButtonHandler<'reroll'> = {
  action: 'reroll',
  access: 'owner',
  posts: true,
  remixable: () => true,

  async execute(ctx, interaction, _parsed, parent, place) {
    const base = jobParams(parent);
    const requests = interaction.isModalSubmit()
      ? (await remixedRequests(ctx, parent, submittedPrompt(interaction))).map((r) => ({ ...base, ...r }))
      : [{ ...base, seed: randomSeed() }];
    await submitGenerations(
      ctx,
      interaction,
      requests.map((params) => ({ kind: 'reroll' as const, params, parent: { jobId: parent.id, index: null } })),
      place,
    );
  },
};
