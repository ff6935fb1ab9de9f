// U1-U4: that image alone. A new `select` job row, linked to the parent and charged 1 image
// like any job, shows the parent's stored image (no copy of its bytes). No GPU work, unless
// the image's bytes expired: then a worker regenerates it first.
import { resultFile } from '../../contract/index.js';
import { completeJob, failJob, jobParams, shownImages } from '../../db/index.js';
import { renderResult } from '../../discord/messages.js';
import { UserError } from '../errors.js';
import { respondPublicly } from '../replies.js';
import { createJob, submitGeneration } from '../submit.js';
import type { ButtonHandler } from '../types.js';

export const select: ButtonHandler<'select'> = {
  action: 'select',
  access: 'owner',
  posts: true,

  async execute(ctx, interaction, { index }, parent, place) {
    const image = (await shownImages(ctx.db, parent))[index];
    if (image === undefined) throw new UserError(`Job \`${parent.id}\` has no image ${index + 1}.`);
    const params = { ...jobParams(parent), seed: image.seed, count: 1, width: image.width, height: image.height };
    const request = { kind: 'select' as const, params, parent: { jobId: image.jobId, index: image.index }, cost: 1 };
    if (image.png === null) {
      await submitGeneration(ctx, interaction, request, place);
      return;
    }
    const job = await createJob(ctx, interaction, request, { needsWorker: false, place });
    try {
      await completeJob(ctx.db, job.id, []);
    } catch (error) {
      // Never leave a row that counts as in flight (and charged) but that no worker will pick up.
      await failJob(ctx.db, job.id, 'the image could not be shown').catch(() => undefined);
      throw error;
    }
    const file = await resultFile([{ png: image.png }], ctx.config.DISCORD_MAX_UPLOAD_BYTES, job.id);
    await respondPublicly(interaction, renderResult(job, { file, seeds: [image.seed] }));
  },
};
