// Replay: posts the animated WebP of the job's denoising that the worker stored with the
// result, as a public reply to the click.
import { getReplay } from '../../db/index.js';
import { UserError } from '../errors.js';
import { respondPublicly } from '../replies.js';
import type { ButtonHandler } from '../types.js';

export const replay: ButtonHandler<'replay'> = {
  action: 'replay',
  access: 'owner',
  posts: true,

  async execute(ctx, interaction, _parsed, job) {
    const stored = await getReplay(ctx.db, job.id);
    if (stored === null) throw new UserError(`No replay was recorded for job \`${job.id}\`.`);
    await respondPublicly(interaction, {
      content: `Replay of job \`${job.id}\`: ${stored.frames} frames of the denoising`,
      components: [],
      files: [{ name: `replay-${job.id}.webp`, data: stored.webp }],
      allowedMentions: { parse: [] },
    });
  },
};
