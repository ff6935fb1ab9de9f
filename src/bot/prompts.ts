// What a typed prompt asks for, the way people already write it: the user's /prefer suffix
// appended, `{a, b}` choices expanded into one prompt each, Midjourney's `--flags` taken out
// and merged with the explicit options (the same field given both ways and different is a
// refusal naming both) and then with the user's preferences, the A1111 syntax checked. The
// job contract validates every value when each job is created (submit.ts).
import { isSamplerName, LIMITS, oneOfProblem, SAMPLERS, type JobParams, type ModelInfo, type SamplerName } from '../contract/index.js';
import type { Preferences } from '../db/index.js';
import {
  expandPermutations,
  parseInlineParameters,
  parsePromptAttention,
  promptSchedules,
  PromptError,
  type InlineParameterName,
} from '../prompt/index.js';
import type { BotContext } from './context.js';
import { UserError } from './errors.js';
import { isAspect, parseRatio, sizeForAspect, sizeForRatio, type Aspect } from './sizes.js';

/** What /imagine's own options gave (undefined: not given). */
export interface ExplicitOptions {
  negative?: string;
  seed?: number;
  steps?: number;
  guidance?: number;
  sampler?: SamplerName;
  aspect?: Aspect;
  count?: number;
  model?: string;
  /** How much of the user's picture to repaint (with `image`). */
  imageStrength?: number;
}

export const DEFAULTS = Object.freeze({ steps: 20, guidance: 7, count: 4 });

/** One prompt of a request, with the settings it ends up with (not yet validated). */
export type PromptRequest = Omit<JobParams, 'init' | 'edit'> & {
  /** With a picture to start from: how much of it to repaint (`image_strength` or `--strength`). */
  imageStrength: number | null;
};

/** Where settings a prompt does not give come from: the user's defaults (/imagine), or a job being remixed. */
export type PromptBase = { kind: 'defaults'; preferences: Preferences } | { kind: 'job'; params: JobParams };

/** The option name and the flag spelling of each inline parameter, for messages. */
const OPTION_OF: Readonly<Record<Exclude<InlineParameterName, 'no' | 'strength'>, keyof ExplicitOptions>> = Object.freeze({
  ar: 'aspect',
  seed: 'seed',
  steps: 'steps',
  cfg: 'guidance',
  sampler: 'sampler',
  count: 'count',
  model: 'model',
});

function promptError(error: unknown): never {
  if (error instanceof PromptError) throw new UserError(`${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}.`);
  throw error;
}

/** An inline number as the contract sees it: a number, or NaN (the contract then names the field). */
const asNumber = (text: string) => (/^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(text) ? Number(text) : Number.NaN);

/** The live model with this name (or the default one). */
export async function resolveModel(ctx: BotContext, requested: string | undefined): Promise<ModelInfo> {
  const name = requested ?? ctx.config.DEFAULT_MODEL;
  const models = await ctx.models.list();
  const model = models.find((m) => m.name === name);
  if (model) return model;
  if (models.length === 0) throw new UserError('No worker is running right now, so no model is available. Please try again in a minute.');
  const available = models.map((m) => `\`${m.name}\``).join(', ');
  // The bot cannot tell a typo from a model whose last worker went away: both have no worker now.
  if (requested === undefined)
    throw new UserError(`No worker is serving the default model \`${name}\` right now. Pick one of: ${available}.`);
  throw new UserError(`No worker is serving the model \`${requested.slice(0, 64)}\` right now. Available: ${available}.`);
}

/**
 * The jobs' settings a typed prompt asks for, one per `{…}` combination (at most `maxPrompts`,
 * else a refusal with the count). `seed` is the first image's seed when none is given.
 */
export async function requestsFromPrompt(
  ctx: BotContext,
  input: {
    text: string;
    explicit: ExplicitOptions;
    base: PromptBase;
    maxPrompts: number;
    seed: () => number;
    /** The user's picture's width / height, when /imagine starts from one: its size follows it. */
    pictureRatio?: number;
  },
): Promise<PromptRequest[]> {
  const { explicit, base } = input;
  const suffix = base.kind === 'defaults' ? base.preferences.suffix : '';
  let prompts: string[];
  try {
    prompts = expandPermutations(suffix === '' ? input.text : `${input.text} ${suffix}`, input.maxPrompts);
  } catch (error) {
    promptError(error);
  }
  const requests: PromptRequest[] = [];
  for (const text of prompts) {
    let parsed;
    try {
      parsed = parseInlineParameters(text);
    } catch (error) {
      promptError(error);
    }
    requests.push(await requestFrom(ctx, parsed.prompt, parsed.values, explicit, base, input.seed, input.pictureRatio ?? null));
  }
  return requests;
}

async function requestFrom(
  ctx: BotContext,
  prompt: string,
  inline: Partial<Record<InlineParameterName, string>>,
  explicit: ExplicitOptions,
  base: PromptBase,
  seed: () => number,
  pictureRatio: number | null,
): Promise<PromptRequest> {
  // The same field typed both ways must agree.
  for (const [flag, option] of Object.entries(OPTION_OF) as [keyof typeof OPTION_OF, keyof ExplicitOptions][]) {
    const typed = inline[flag];
    const given = explicit[option];
    if (typed === undefined || given === undefined) continue;
    const same =
      flag === 'ar'
        ? parseRatio(typed) !== null && parseRatio(typed) === parseRatio(String(given))
        : typeof given === 'number'
          ? asNumber(typed) === given
          : typed === given;
    if (!same) throw new UserError(`\`${option}:${String(given)}\` and \`--${flag} ${typed}\` disagree: give one of them.`);
  }
  if (pictureRatio === null && (inline.strength !== undefined || explicit.imageStrength !== undefined)) {
    throw new UserError('`--strength` and `image_strength` work with a picture to start from (the `image` option).');
  }
  if (inline.strength !== undefined && explicit.imageStrength !== undefined && asNumber(inline.strength) !== explicit.imageStrength) {
    throw new UserError(`\`image_strength:${explicit.imageStrength}\` and \`--strength ${inline.strength}\` disagree: give one of them.`);
  }
  const from = base.kind === 'job' ? base.params : null;
  const preferences = base.kind === 'defaults' ? base.preferences : null;

  const modelName = inline.model ?? explicit.model ?? from?.model ?? preferences?.model ?? undefined;
  const model = await resolveModel(ctx, modelName ?? undefined);

  const samplerText = inline.sampler ?? explicit.sampler ?? from?.sampler ?? preferences?.sampler ?? model.defaultSampler;
  const samplerProblem = oneOfProblem('sampler', samplerText, SAMPLERS);
  if (samplerProblem !== null || !isSamplerName(samplerText)) throw new UserError(samplerProblem ?? '`sampler` must be a sampler.');

  let size: { width: number; height: number };
  const ratioText = inline.ar ?? explicit.aspect;
  if (ratioText !== undefined) {
    const ratio = parseRatio(ratioText);
    if (ratio === null)
      throw new UserError(`\`--ar\` must be a ratio of two numbers like 16:9 (at most 8:1), not \`${ratioText.slice(0, 20)}\`.`);
    size = sizeForRatio(ratio, model, ctx.config.MAX_PIXELS);
  } else if (from !== null) {
    size = { width: from.width, height: from.height };
  } else if (pictureRatio !== null) {
    size = sizeForRatio(pictureRatio, model, ctx.config.MAX_PIXELS);
  } else {
    const preferred = preferences?.aspect ?? null;
    size = sizeForAspect(preferred !== null && isAspect(preferred) ? preferred : '1:1', model, ctx.config.MAX_PIXELS);
  }

  // A remixed prompt carries its negative as `--no` (remix.ts), so only the text says it.
  const negatives = [explicit.negative ?? '', inline.no ?? ''].map((n) => n.trim()).filter((n) => n !== '');
  const request: PromptRequest = {
    prompt,
    negativePrompt: negatives.join(', '),
    model: model.name,
    sampler: samplerText,
    steps: inline.steps !== undefined ? asNumber(inline.steps) : (explicit.steps ?? from?.steps ?? preferences?.steps ?? DEFAULTS.steps),
    guidance: inline.cfg !== undefined ? asNumber(inline.cfg) : (explicit.guidance ?? from?.guidance ?? DEFAULTS.guidance),
    width: size.width,
    height: size.height,
    count: inline.count !== undefined ? asNumber(inline.count) : (explicit.count ?? from?.count ?? preferences?.count ?? DEFAULTS.count),
    seed: inline.seed !== undefined ? asNumber(inline.seed) : (explicit.seed ?? seed()),
    rng: from?.rng ?? 'numpy',
    imageStrength:
      pictureRatio === null
        ? null
        : inline.strength !== undefined
          ? asNumber(inline.strength)
          : (explicit.imageStrength ?? LIMITS.imageStrength.default),
  };
  checkPromptSyntax(
    request.prompt,
    request.negativePrompt,
    typeof request.steps === 'number' && Number.isInteger(request.steps) ? request.steps : DEFAULTS.steps,
  );
  return request;
}

/** Refuses A1111 syntax the pipeline could not read (a weight like `1.2.3`), before anything is charged. */
function checkPromptSyntax(prompt: string, negative: string, steps: number): void {
  try {
    for (const text of [prompt, negative]) {
      for (const [, scheduled] of promptSchedules(text, Math.min(Math.max(steps, 1), LIMITS.steps.max))) parsePromptAttention(scheduled);
    }
  } catch (error) {
    promptError(error);
  }
}
