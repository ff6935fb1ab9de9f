// Editing one image on Discord: the jobs the Zoom out, pan, Upscale and Vary (region) buttons
// make. Each is the image's job's request with the edit (sizes, count, strength from the job
// contract), started from the stored image (a worker regenerates it first if its bytes
// expired), charged like any job and linked to its parent.
import { editCount, editSize, EditSizeError, editStrength, randomSeed, type Edit } from '../contract/index.js';
import { jobParams, shownImages, type Job } from '../db/index.js';
import type { BotContext } from './context.js';
import { UserError } from './errors.js';
import { remixedRequests } from './remix.js';
import type { Place } from './rules.js';
import { submitGenerations } from './submit.js';
import type { RepliableInteraction } from 'discord.js';

/**
 * Queues the edit of image `index` of `parent`; with `text` (remix, or Vary (region)'s
 * prompt) the prompt as edited, read like an /imagine prompt.
 */
export async function submitEdit(
  ctx: BotContext,
  interaction: RepliableInteraction,
  input: { parent: Job; index: number; edit: Edit; text: string | null; place: Place },
): Promise<void> {
  const { parent, index, edit } = input;
  const image = parent.status === 'succeeded' ? (await shownImages(ctx.db, parent))[index] : undefined;
  if (image === undefined) throw new UserError(`Job \`${parent.id}\` has no image ${index + 1} to edit.`);
  const model = await ctx.models.find(parent.model);
  if (model === null) throw new UserError(`No worker is serving the model \`${parent.model}\` right now. Please try again in a minute.`);
  let size;
  try {
    size = editSize(edit, image, model, ctx.config.MAX_PIXELS);
  } catch (error) {
    if (error instanceof EditSizeError) throw new UserError(error.message);
    throw error;
  }
  const count = editCount(edit);
  // An upscale keeps the image's seed; the others make new images.
  const base = {
    ...jobParams(parent),
    width: size.width,
    height: size.height,
    count,
    seed: edit.kind === 'upscale' ? image.seed : randomSeed(),
    init: { jobId: image.jobId, index: image.index, strength: editStrength(edit) },
    edit,
  };
  // An edited prompt changes what is drawn, never the edit's size, count or model.
  const requests =
    input.text === null
      ? [base]
      : (await remixedRequests(ctx, parent, input.text)).map((r) => ({
          ...base,
          prompt: r.prompt,
          negativePrompt: r.negativePrompt,
          seed: r.seed,
          steps: r.steps,
          guidance: r.guidance,
          sampler: r.sampler,
        }));
  await submitGenerations(
    ctx,
    interaction,
    requests.map((params) => ({ kind: edit.kind, params, parent: { jobId: parent.id, index } })),
    input.place,
  );
}
