// Remix (Midjourney's): with the user's remix preference on, a button that makes a new job
// from a job's prompt opens that prompt for editing first (a modal, callback type 9); the
// submitted text is read like an /imagine prompt (inline parameters, {a, b} choices) with
// the job's own settings as the base. The modal's submit reaches the same button handler.
import type { APIModalInteractionResponseCallbackData } from 'discord-api-types/v10';
import type { ModalSubmitInteraction } from 'discord.js';
import { jobParams, type Job } from '../db/index.js';
import { buildModalId, type ButtonAction } from '../discord/custom-ids.js';
import { LIMITS, randomSeed } from '../contract/index.js';
import type { BotContext } from './context.js';
import { requestsFromPrompt, type PromptRequest } from './prompts.js';

/** The text input's custom_id in every modal that edits a prompt. */
export const PROMPT_FIELD = 'prompt';
/** Discord's limit for a text input's value. */
const TEXT_INPUT_MAX = 4000;

/** The job's prompt as the user would type it again: the prompt, and its negative as `--no`. */
export function promptAsTyped(job: Pick<Job, 'prompt' | 'negativePrompt'>): string {
  return job.negativePrompt === '' ? job.prompt : `${job.prompt} --no ${job.negativePrompt}`;
}

/** A modal label holding the job's prompt, editable. */
export function promptLabel(job: Pick<Job, 'prompt' | 'negativePrompt'>) {
  return {
    type: 18 as const,
    label: 'Prompt',
    description: 'Inline parameters work here too: --no, --seed, --steps, ...',
    component: {
      type: 4 as const,
      custom_id: PROMPT_FIELD,
      style: 2 as const,
      required: true,
      min_length: 1,
      max_length: Math.min(TEXT_INPUT_MAX, 2 * LIMITS.promptChars + 10),
      value: promptAsTyped(job),
    },
  };
}

/** The remix modal of a button's action on a job. */
export function remixModal(action: ButtonAction, job: Job): APIModalInteractionResponseCallbackData {
  return {
    custom_id: buildModalId(action),
    title: 'Remix: edit the prompt',
    components: [promptLabel(job)] as APIModalInteractionResponseCallbackData['components'],
  };
}

/** The edited prompt of a submitted modal. */
export function submittedPrompt(interaction: ModalSubmitInteraction): string {
  return interaction.fields.getTextInputValue(PROMPT_FIELD);
}

/** The jobs' settings an edited prompt asks for, the job's own settings (and a new seed) as the base. */
export async function remixedRequests(ctx: BotContext, job: Job, text: string): Promise<Omit<PromptRequest, 'imageStrength'>[]> {
  const requests = await requestsFromPrompt(ctx, {
    text,
    explicit: {},
    base: { kind: 'job', params: jobParams(job) },
    maxPrompts: Math.min(ctx.config.MAX_PERMUTATIONS, ctx.config.MAX_JOBS_PER_USER),
    seed: randomSeed,
  });
  return requests.map(({ imageStrength: _none, ...request }) => request);
}
