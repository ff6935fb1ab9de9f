// Replay: posts the animated WebP of the job's denoising that the worker stored with the
// result, as a public reply to the click.
import { getReplay } from '../../db/index.js';
import { UserError } from '../errors.js';
import { jobFromButton } from '../lookup.js';
import { requireButtonOwner } from '../permissions.js';
import { respondPublicly } from '../replies.js';
import type { ButtonHandler } from '../types.js';

export const replay: ButtonHandler<'replay'> = {
  action: 'replay',

  async execute(ctx, interaction, { jobId }) {
    const job = await jobFromButton(ctx, jobId);
    requireButtonOwner(ctx.config, interaction, job, { admins: false });
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
