// Cancel on a queued or running job: the row is cancelled (and refunded) in Postgres, the
// running worker is told over Redis (before Discord is touched), then the message shows it.
import { cancelJob, jobRefund } from '../../db/index.js';
import { renderCancelled } from '../../discord/messages.js';
import { publishCancel } from '../../queue/index.js';
import { UserError } from '../errors.js';
import { replyOptions } from '../replies.js';
import type { ButtonHandler } from '../types.js';

export const cancel: ButtonHandler<'cancel'> = {
  action: 'cancel',
  // Bot owners and the admins of the server the job was made in may cancel it (moderation).
  access: 'ownerOrAdmin',
  posts: false,

  async execute(ctx, interaction, _parsed, job) {
    // No modal of ours leads here.
    if (!interaction.isButton()) throw new UserError('This form is not one of mine.');
    const { previousStatus, cancelled } = await cancelJob(ctx.db, job.id, interaction.user.id);
    if (!cancelled) {
      const state = previousStatus === 'succeeded' ? 'finished' : (previousStatus ?? 'gone');
      throw new UserError(`Job \`${job.id}\` is already ${state}; there is nothing to cancel.`);
    }
    ctx.logger.info({ jobId: job.id, userId: interaction.user.id, previousStatus }, 'job cancelled');
    // Workers first, and whatever Discord does: a running job must stop even if the edit fails.
    // publishCancel tries again while Redis is briefly away; a worker that still misses it
    // reads the cancel from Postgres before its next preview (the fence).
    await publishCancel(ctx.redis, ctx.config.REDIS_PREFIX, job.id).catch((err: unknown) =>
      ctx.logger.warn({ err, jobId: job.id }, 'could not publish the cancel'),
    );
    await interaction.update(replyOptions(renderCancelled(job, await jobRefund(ctx.db, job.id))));
  },
};
