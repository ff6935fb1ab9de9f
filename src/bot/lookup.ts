// Finding jobs from what users type or click, with refusals that say what went wrong.
import { normalizeJobId } from '../contract/index.js';
import { getJob, listUserJobs, type Job } from '../db/index.js';
import type { BotContext } from './context.js';
import { UserError } from './errors.js';

/** The job a user typed (look-alike characters forgiven), or a UserError. */
export async function jobFromTypedId(ctx: BotContext, typed: string): Promise<Job> {
  const id = normalizeJobId(typed);
  if (id === null)
    throw new UserError(
      'That is not a job id. Job ids have 12 letters and digits, like `0abc12de34fg`; they are in every result message and in /history.',
    );
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

/** Autocomplete for job options: the user's recent jobs matching what they typed (id or prompt). */
export async function jobChoices(
  ctx: BotContext,
  userId: string,
  typed: string,
  onlySucceeded: boolean,
): Promise<{ name: string; value: string }[]> {
  const needle = typed.trim().toLowerCase();
  const jobs = await listUserJobs(ctx.db, userId, 50);
  return jobs
    .filter((job) => !onlySucceeded || job.status === 'succeeded')
    .filter((job) => needle === '' || job.id.includes(needle) || job.prompt.toLowerCase().includes(needle))
    .slice(0, 25)
    .map((job) => {
      const label = `${job.id} · ${job.prompt.replace(/\s+/g, ' ')}`;
      return { name: label.length > 100 ? `${label.slice(0, 99)}…` : label, value: job.id };
    });
}
