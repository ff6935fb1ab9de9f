// U1-U4: that image alone, at full size. No GPU work: a new `upscale` job row, linked to
// the parent and charged 1 image like any job, gets a copy of the stored image.
import { completeJob, failJob, getImage, jobParams } from '../../db/index.js';
import { renderResult } from '../../discord/messages.js';
import { UserError } from '../errors.js';
import { jobFromButton } from '../lookup.js';
import { requireButtonOwner } from '../permissions.js';
import { respondPublicly } from '../replies.js';
import { createJob } from '../submit.js';
import type { ButtonHandler } from '../types.js';

export const upscale: ButtonHandler<'upscale'> = {
  action: 'upscale',

  async execute(ctx, interaction, { jobId, index }) {
    const parent = await jobFromButton(ctx, jobId);
    requireButtonOwner(ctx.config, interaction, parent, { admins: false });
    const image = await getImage(ctx.db, parent.id, index);
    if (image === null) throw new UserError(`Job \`${parent.id}\` has no image ${index + 1}.`);
    const params = { ...jobParams(parent), seed: image.seed, count: 1, width: image.width, height: image.height };
    const job = await createJob(ctx, interaction, { kind: 'upscale', params, parent: { jobId: parent.id, index }, cost: 1 }, { needsWorker: false });
    try {
      await completeJob(ctx.db, job.id, [{ index: 0, seed: image.seed, width: image.width, height: image.height, png: image.png }]);
    } catch (error) {
      // Never leave a row that counts as in flight (and charged) but that no worker will pick up.
      await failJob(ctx.db, job.id, 'the image could not be copied').catch(() => undefined);
      throw error;
    }
    await respondPublicly(interaction, renderResult(job, { file: { name: `${job.id}.png`, data: image.png }, seeds: [image.seed] }));
  },
};
