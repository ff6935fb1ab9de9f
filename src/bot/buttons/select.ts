// U1-U4: that image alone. No GPU work: a new `select` job row, linked to the parent and
// charged 1 image like any job, gets a copy of the stored image.
import { resultFile } from '../../contract/index.js';
import { completeJob, failJob, getImage, jobParams } from '../../db/index.js';
import { renderResult } from '../../discord/messages.js';
import { UserError } from '../errors.js';
import { respondPublicly } from '../replies.js';
import { createJob } from '../submit.js';
import type { ButtonHandler } from '../types.js';

export const select: ButtonHandler<'select'> = {
  action: 'select',
  access: 'owner',

  async execute(ctx, interaction, { index }, parent) {
    const image = await getImage(ctx.db, parent.id, index);
    if (image === null) throw new UserError(`Job \`${parent.id}\` has no image ${index + 1}.`);
    const params = { ...jobParams(parent), seed: image.seed, count: 1, width: image.width, height: image.height };
    const job = await createJob(ctx, interaction, { kind: 'select', params, parent: { jobId: parent.id, index }, cost: 1 }, { needsWorker: false });
    try {
      await completeJob(ctx.db, job.id, [{ index: 0, seed: image.seed, width: image.width, height: image.height, png: image.png }]);
    } catch (error) {
      // Never leave a row that counts as in flight (and charged) but that no worker will pick up.
      await failJob(ctx.db, job.id, 'the image could not be copied').catch(() => undefined);
      throw error;
    }
    const file = await resultFile([image], ctx.config.DISCORD_MAX_UPLOAD_BYTES, job.id);
    await respondPublicly(interaction, renderResult(job, { file, seeds: [image.seed] }));
  },
};
