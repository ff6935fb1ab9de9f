// Cancel on a queued or running job: the row is cancelled (and refunded) in Postgres, the
// running worker is told over Redis, and the message shows it at once.
import { cancelJob } from '../../db/index.js';
import { renderCancelled } from '../../discord/messages.js';
import { publishCancel } from '../../queue/index.js';
import { UserError } from '../errors.js';
import { jobFromButton } from '../lookup.js';
import { requireButtonOwner } from '../permissions.js';
import { replyOptions } from '../replies.js';
import type { ButtonHandler } from '../types.js';

export const cancel: ButtonHandler<'cancel'> = {
  action: 'cancel',

  async execute(ctx, interaction, { jobId }) {
    const job = await jobFromButton(ctx, jobId);
    requireButtonOwner(ctx.config, interaction, job, { admins: true });
    const { previousStatus, cancelled } = await cancelJob(ctx.db, job.id, interaction.user.id);
    if (!cancelled) {
      const state = previousStatus === 'succeeded' ? 'finished' : (previousStatus ?? 'gone');
      throw new UserError(`Job \`${job.id}\` is already ${state}; there is nothing to cancel.`);
    }
    await interaction.update(replyOptions(renderCancelled(job)));
    await publishCancel(ctx.redis, ctx.config.REDIS_PREFIX, job.id);
    ctx.logger.info({ jobId: job.id, userId: interaction.user.id, previousStatus }, 'job cancelled');
  },
};
