// Replay: the animated denoising replay, if the worker stored one for this job.
import { UserError } from '../errors.js';
import { jobFromButton } from '../lookup.js';
import { requireButtonOwner } from '../permissions.js';
import type { ButtonHandler } from '../types.js';

export const replay: ButtonHandler<'replay'> = {
  action: 'replay',

  async execute(ctx, interaction, { jobId }) {
    const job = await jobFromButton(ctx, jobId);
    requireButtonOwner(ctx.config, interaction, job, { admins: false });
    // Replays are not stored in Postgres yet (no column or table for them).
    throw new UserError(`No replay was recorded for job \`${job.id}\`.`);
  },
};
