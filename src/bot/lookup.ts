// Finding jobs from what users type or click, with refusals that say what went wrong.
import { getJob, normalizeJobId, type Job } from '../db/index.js';
import type { BotContext } from './context.js';
import { UserError } from './errors.js';

/** The job a user typed (look-alike characters forgiven), or a UserError. */
export async function jobFromTypedId(ctx: BotContext, typed: string): Promise<Job> {
  const id = normalizeJobId(typed);
  if (id === null) throw new UserError('That is not a job id. Job ids have 12 letters and digits, like `0abc12de34fg`; they are in every result message and in /history.');
  const job = await getJob(ctx.db, id);
  if (job === null) throw new UserError(`There is no job \`${id}\`.`);
  return job;
}

/** The job a button refers to (its id was strictly parsed from the custom_id). */
export async function jobFromButton(ctx: BotContext, jobId: string): Promise<Job> {
  const job = await getJob(ctx.db, jobId);
  if (job === null) throw new UserError('This job does not exist (anymore).');
  return job;
}
