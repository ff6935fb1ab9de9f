// The prompt syntax engine: pure functions over prompt text, no model and no I/O, so the
// Discord bot can check a prompt before it queues a job and the pipeline can read it.
//
//   parsePromptAttention(text): [text, weight][]            A1111 emphasis: (a) [a] (a:1.3) BREAK
//   isBreak(piece): boolean                                  the ['BREAK', -1] marker
//   promptSchedules(prompt, steps): [endAtStep, text][]      A1111 prompt editing [a:b:when] and alternation [a|b]
//   parseInlineParameters(prompt): { prompt, values }        Midjourney flags: --ar --no --seed --steps --cfg ...
//   countPermutations(prompt): number                        how many prompts {a, b} groups make
//   expandPermutations(prompt, max): string[]                those prompts, or TooManyPermutationsError
//
// Order for a job: expandPermutations, then parseInlineParameters on each prompt; the
// pipeline runs promptSchedules, then parsePromptAttention on each scheduled text.
// Errors: PromptError and its subclasses PromptSyntaxError, InlineParameterError,
// TooManyPermutationsError; every message is fit to show the user.
export { BREAK, isBreak, parsePromptAttention, type WeightedText } from './attention.js';
export { promptSchedules, type PromptScheduleEntry } from './schedules.js';
export {
  INLINE_PARAMETERS,
  parseInlineParameters,
  type InlineParameterName,
  type InlineParameters,
  type InlineParameterSpec,
} from './parameters.js';
export { countPermutations, expandPermutations } from './permutations.js';
export { InlineParameterError, PromptError, PromptSyntaxError, TooManyPermutationsError } from './errors.js';
