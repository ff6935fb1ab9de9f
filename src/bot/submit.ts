// Creating a job for an interaction: the checks that need no I/O first (they answer at
// once), then the database checks and the reservation within the response budget (or
// the interaction is deferred publicly), then the public "queued" message and the
// enqueue. Shared by /imagine, /rerun and the buttons: every job is validated here, once,
// by the job contract. A job whose first response to Discord fails (the deferral, the
// queued message) is failed and refunded on the spot: nothing stays charged unseen.
import type { RepliableInteraction } from 'discord.js';
import { jobParamsProblems, modelProblems, type JobKind, type JobParams } from '../contract/index.js';
import {
  createJobWithReservation,
  failJob,
  getGuildSettings,
  jobRefund,
  queuePosition,
  setMessageId,
  type CreateJobResult,
  type Job,
} from '../db/index.js';
import { escapeMarkdown, renderFailed, renderQueued, type MessagePayload } from '../discord/messages.js';
import { isUserVisible } from '../errors.js';
import { enqueueGeneration } from '../queue/index.js';
import type { BotContext } from './context.js';
import { withinBudget } from './deadline.js';
import { UserError } from './errors.js';
import { replyOptions, respondPublicly } from './replies.js';
import { bannedWordIn, type Place } from './rules.js';

/** Discord's interaction token lifetime. */
const TOKEN_LIFETIME_MS = 15 * 60_000;

/** Discord timestamp markup, shown in each user's time zone. */
export function discordTime(date: Date, style: 'R' | 'f' = 'R'): string {
  return `<t:${Math.floor(date.getTime() / 1000)}:${style}>`;
}

/** A job to create for an interaction. */
export interface NewJob {
  kind: JobKind;
  params: JobParams;
  parent: { jobId: string; index: number | null } | null;
  /** Images charged; default params.count. */
  cost?: number;
}

type Refusal = Exclude<Extract<CreateJobResult, { ok: false }>, { reason: 'duplicate' }>;

function refusalMessage(refusal: Refusal, cost: number): string {
  switch (refusal.reason) {
    case 'quota': {
      const which =
        refusal.level === 'server' ? `in this server (${refusal.limit} images per day here)` : `(${refusal.limit} images per day)`;
      return refusal.remaining === 0
        ? `You have no quota left ${which}. It resets ${discordTime(refusal.resetsAt)}.`
        : `Not enough quota left ${which}: ${refusal.remaining} image${refusal.remaining === 1 ? '' : 's'} left, this needs ${cost}. Ask for fewer images, or wait for the reset ${discordTime(refusal.resetsAt)}.`;
    }
    case 'banned':
      return `You are banned from using this bot${refusal.scope === 'server' ? ' in this server' : ''}${refusal.banReason ? `: ${refusal.banReason}` : '.'}`;
    case 'too_many_jobs':
      return `You already have ${refusal.active} jobs in flight (the limit is ${refusal.max}). Wait for one to finish, or cancel one.`;
  }
}

/** The banned words (the bot's and the server's) in the new prompt; the place's rules (rules.ts) ran before. */
async function checkWords(ctx: BotContext, interaction: RepliableInteraction, params: JobParams, place: Place): Promise<void> {
  const guildId = interaction.guildId;
  const guild = place.guild ?? (guildId === null ? null : await getGuildSettings(ctx.db, guildId));
  const word = bannedWordIn(ctx, guild, [params.prompt, params.negativePrompt]);
  if (word !== null) throw new UserError(`Your prompt contains a banned word (\`${word}\`). Please rephrase it.`);
}

/**
 * The database part: the banned words with the server's own, then the reservation and the
 * job row in one transaction. Returns the job (an existing one for a redelivered interaction)
 * or throws UserError with the refusal.
 */
async function reserve(ctx: BotContext, interaction: RepliableInteraction, request: NewJob, place: Place, part: number): Promise<Job> {
  const guildId = interaction.guildId;
  await checkWords(ctx, interaction, request.params, place);
  const cost = request.cost ?? request.params.count;
  const result = await createJobWithReservation(ctx.db, {
    // The jobs of one interaction (a prompt's {…} choices) are told apart by their part.
    interactionId: part === 0 ? interaction.id : `${interaction.id}:${part}`,
    interactionToken: interaction.token,
    // In our clock, not Discord's: the worker compares it with its own clock.
    interactionTokenExpiresAt: new Date(ctx.clock() + TOKEN_LIFETIME_MS),
    userId: interaction.user.id,
    guildId,
    channelId: interaction.channelId ?? '',
    kind: request.kind,
    params: request.params,
    parent: request.parent,
    cost,
    defaultLimit: ctx.config.DEFAULT_QUOTA,
    maxActiveJobs: ctx.config.MAX_JOBS_PER_USER,
  });
  if (result.ok) return result.job;
  // A redelivered interaction: the first delivery owns the job and its reply.
  if (result.reason === 'duplicate') throw new UserError(`This request is already being handled as job \`${result.job.id}\`.`);
  throw new UserError(refusalMessage(result, cost));
}

/**
 * Creates the job for this interaction: the contract's checks of every field and the banned
 * words (no I/O), then for jobs a worker must run that some live worker serves the model and
 * can make these settings, then quota and row within the budget.
 */
export async function createJob(
  ctx: BotContext,
  interaction: RepliableInteraction,
  request: NewJob,
  options: { needsWorker: boolean; place: Place; part?: number },
): Promise<Job> {
  const problem = jobParamsProblems(request.params)[0];
  if (problem !== undefined) throw new UserError(problem);
  if (interaction.channelId === null) throw new UserError('I cannot work in this kind of channel.');
  if (options.needsWorker) {
    const model = await ctx.models.find(request.params.model);
    if (model === null)
      throw new UserError(`No worker is serving the model \`${request.params.model}\` right now. Please try again in a minute.`);
    const unfit = modelProblems(request.params, model, { maxPixels: ctx.config.MAX_PIXELS, img2img: request.params.init !== null })[0];
    if (unfit !== undefined) throw new UserError(unfit);
  }
  return withinBudget(ctx, interaction, reserve(ctx, interaction, request, options.place, options.part ?? 0), (job) =>
    abandonJob(ctx, job, 'the first response to Discord failed'),
  );
}

/**
 * A job no message will ever show (the first response to Discord failed): failed and
 * refunded at once, so that it neither stays charged nor counts as in flight.
 */
async function abandonJob(ctx: BotContext, job: Job, reason: string): Promise<void> {
  const { didFail } = await failJob(ctx.db, job.id, reason);
  if (didFail) ctx.logger.warn({ jobId: job.id, userId: job.userId, reason }, 'job failed and refunded before it was shown');
}

/**
 * Creates a generation job, answers with the public "queued" message (its token and
 * message id are in the job row for the worker) and puts it on its model's queue. The
 * reply goes out before the enqueue so a fast worker never edits a message that does not
 * exist yet. If the enqueue fails, the job fails and is refunded.
 */
export async function submitGeneration(ctx: BotContext, interaction: RepliableInteraction, request: NewJob, place: Place): Promise<Job> {
  const job = await createJob(ctx, interaction, request, { needsWorker: true, place });
  await postAndEnqueue(ctx, job, (payload) => respondPublicly(interaction, payload));
  return job;
}

/**
 * Shows the job's "queued" message with `post` (its message id goes into the row for the
 * worker), then enqueues it. If either fails, the job fails and is refunded.
 */
async function postAndEnqueue(ctx: BotContext, job: Job, post: (payload: MessagePayload) => Promise<string>): Promise<void> {
  let messageId: string;
  try {
    messageId = await post(renderQueued(job, (await queuePosition(ctx.db, job)) + 1));
  } catch (error) {
    await abandonJob(ctx, job, 'the queued message could not be sent').catch((e: unknown) =>
      ctx.logger.error({ err: e, jobId: job.id }, 'could not fail the job'),
    );
    throw error;
  }
  try {
    await setMessageId(ctx.db, job.id, messageId);
    await enqueueGeneration(ctx.queues, { jobId: job.id, model: job.model, userActiveJobs: job.priority });
  } catch (error) {
    ctx.logger.error({ err: error, jobId: job.id }, 'could not queue the job');
    const { didFail } = await failJob(ctx.db, job.id, 'could not be queued');
    if (didFail)
      await post(renderFailed(job, 'it could not be queued; please try again', await jobRefund(ctx.db, job.id))).catch(() => undefined);
    throw error;
  }
  ctx.logger.info({ jobId: job.id, kind: job.kind, userId: job.userId, model: job.model, count: job.count }, 'job queued');
}

/**
 * Several jobs for one interaction (a prompt's `{…}` choices): each is checked, charged and
 * queued on its own. The reply lists them (a refused one with its reason); each job gets a
 * message of its own, a follow-up the worker edits. All refused: the first refusal is the answer.
 */
export async function submitGenerations(
  ctx: BotContext,
  interaction: RepliableInteraction,
  requests: NewJob[],
  place: Place,
): Promise<Job[]> {
  if (requests.length === 1) return [await submitGeneration(ctx, interaction, requests[0]!, place)];
  const outcomes: ({ job: Job } | { refusal: string })[] = [];
  for (const [part, request] of requests.entries()) {
    try {
      outcomes.push({ job: await createJob(ctx, interaction, request, { needsWorker: true, place, part }) });
    } catch (error) {
      if (!isUserVisible(error)) {
        // No reply will list the jobs made so far (the deferral failed, the database went away).
        for (const o of outcomes)
          if ('job' in o) await abandonJob(ctx, o.job, 'the first response to Discord failed').catch(() => undefined);
        throw error;
      }
      outcomes.push({ refusal: error.message });
    }
  }
  const jobs = outcomes.flatMap((o) => ('job' in o ? [o.job] : []));
  if (jobs.length === 0) throw new UserError((outcomes[0] as { refusal: string }).refusal);
  const lines = outcomes.map(
    (o, i) => `${i + 1}. ${'job' in o ? `\`${o.job.id}\` ${escapeMarkdown(o.job.prompt.slice(0, 150))}` : `not queued: ${o.refusal}`}`,
  );
  try {
    await respondPublicly(interaction, {
      content: `<@${interaction.user.id}>'s prompt makes ${requests.length} prompts; ${jobs.length} queued:\n${lines.join('\n')}`.slice(
        0,
        2000,
      ),
      components: [],
      files: [],
      allowedMentions: { parse: [] },
    });
  } catch (error) {
    for (const job of jobs) await abandonJob(ctx, job, 'the queued message could not be sent').catch(() => undefined);
    throw error;
  }
  for (const job of jobs) {
    await postAndEnqueue(ctx, job, async (payload) => (await interaction.followUp(replyOptions(payload))).id).catch((err: unknown) =>
      ctx.logger.error({ err, jobId: job.id }, 'could not post or queue one job of several'),
    );
  }
  return jobs;
}
