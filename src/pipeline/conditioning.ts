// Text conditioning as AUTOMATIC1111 builds it (modules/sd_hijack_clip.py, default settings):
// - prompt editing and alternation (src/prompt/schedules.ts) give the text of each step;
//   each distinct text is encoded once, and denoising call i (0-based, as A1111's
//   denoiser counts) uses the first schedule entry whose end step is >= i (the last entry
//   past the end);
// - each text's emphasis pieces (src/prompt/attention.ts) are tokenized separately and laid
//   into chunks of 75 tokens; BREAK starts a new chunk, and a chunk that would split
//   within 20 tokens after a comma moves the tokens after that comma to the next chunk;
//   each chunk is BOS + 75 tokens (EOS-padded) + EOS, encoded on its own, and the chunks
//   are concatenated along the sequence axis (77 x n positions);
// - emphasis: each token's output vector is multiplied by its weight, then the chunk is
//   rescaled to its original mean (z *= w; z *= mean_before / mean_after), in float32;
// - the shorter of the two sides of guidance is padded with the empty prompt's encoding
//   to the same number of chunks.
// A UNet whose encoder_hidden_states has a fixed length takes as many chunks as fit
// (one for 77): the rest is dropped, with a warning when BREAK was what made more chunks.
// A plain prompt of at most 75 tokens gives exactly the old single-encode conditioning.
import { at, f32At } from '../checked.js';
import type { GenerationRequest } from '../contract/index.js';
import { isBreak, parsePromptAttention, PromptError, promptSchedules, type PromptScheduleEntry } from '../prompt/index.js';
import { InvalidRequestError, PipelineError } from './errors.js';
import { asFloat32, floatsToHalf } from './float16.js';
import type { LoadedModel } from './model.js';
import { outputNamed } from './onnx/output.js';
import type { ClipTokenizer } from './tokenizer/index.js';

/** Content tokens per chunk; with BOS and EOS a chunk fills the text encoder's 77 positions. */
export const CHUNK_TOKENS = 75;
export const CHUNK_POSITIONS = CHUNK_TOKENS + 2;
/** A1111's comma_padding_backtrack default: how far back a chunk boundary may move to the last comma. */
export const COMMA_BACKTRACK = 20;

const fr = Math.fround;

/** One chunk's input ids (CHUNK_POSITIONS) and each position's emphasis weight. */
export interface TokenChunk {
  ids: Int32Array;
  weights: Float32Array;
}

export interface ChunkedText {
  chunks: TokenChunk[];
  /** Words whose tokens fell into chunks past `maxChunks`, in order. */
  truncatedWords: string[];
  /** Whether chunks were dropped from a text that has BREAK. */
  breakDropped: boolean;
}

/**
 * A1111's tokenize_line: a text's emphasis pieces laid into chunks. With `maxChunks` 1
 * (a fixed 77-position UNet) the comma backtrack is off, so a plain prompt keeps its
 * first 75 tokens exactly as a single encode does.
 */
export function chunkText(tokenizer: ClipTokenizer, text: string, maxChunks: number): ChunkedText {
  const comma = tokenizer.tokenize(',').ids;
  const commaId = comma.length === 1 ? at(comma, 0) : -1;
  const backtrack = maxChunks > 1 ? COMMA_BACKTRACK : 0;
  // Every word of every piece, and for each chunk position the index of its token's word there.
  const words: string[] = [];
  const chunks: { ids: number[]; weights: number[]; wordIndex: number[] }[] = [];
  let chunk: (typeof chunks)[number] = { ids: [], weights: [], wordIndex: [] };
  let lastComma = -1;
  let hasBreak = false;
  const nextChunk = () => {
    chunks.push(chunk);
    chunk = { ids: [], weights: [], wordIndex: [] };
    lastComma = -1;
  };

  for (const piece of parsePromptAttention(text)) {
    if (isBreak(piece)) {
      hasBreak = true;
      nextChunk();
      continue;
    }
    const tokens = tokenizer.tokenize(piece[0]);
    const firstWord = words.length;
    words.push(...tokens.words);
    tokens.ids.forEach((token, k) => {
      if (token === commaId) {
        lastComma = chunk.ids.length;
      } else if (backtrack > 0 && chunk.ids.length === CHUNK_TOKENS && lastComma !== -1 && chunk.ids.length - lastComma <= backtrack) {
        const cut = lastComma + 1;
        const moved = { ids: chunk.ids.slice(cut), weights: chunk.weights.slice(cut), wordIndex: chunk.wordIndex.slice(cut) };
        chunk.ids.length = chunk.weights.length = chunk.wordIndex.length = cut;
        nextChunk();
        chunk = moved;
      }
      if (chunk.ids.length === CHUNK_TOKENS) nextChunk();
      chunk.ids.push(token);
      chunk.weights.push(piece[1]);
      chunk.wordIndex.push(firstWord + at(tokens.wordOfToken, k));
    });
  }
  if (chunk.ids.length > 0 || chunks.length === 0) nextChunk();

  const dropped = chunks.slice(maxChunks).flatMap((c) => c.wordIndex);
  return {
    chunks: chunks.slice(0, maxChunks).map((c) => layOut(tokenizer, c.ids, c.weights)),
    truncatedWords: dropped.filter((w, i) => w !== dropped[i - 1]).map((w) => at(words, w)),
    breakDropped: hasBreak && chunks.length > maxChunks,
  };
}

/** BOS, the tokens, EOS, then padding, as a single encode lays them out; weight 1 outside the tokens. */
function layOut(tokenizer: ClipTokenizer, tokens: number[], tokenWeights: number[]): TokenChunk {
  const ids = new Int32Array(CHUNK_POSITIONS).fill(tokenizer.padTokenId);
  const weights = new Float32Array(CHUNK_POSITIONS).fill(1);
  ids[0] = tokenizer.bosTokenId;
  ids.set(tokens, 1);
  weights.set(tokenWeights, 1);
  ids[tokens.length + 1] = tokenizer.eosTokenId;
  return { ids, weights };
}

/** The text encoder's states for each chunk, concatenated: [chunks x 77, hidden], float32, emphasis applied. */
export async function encodeChunks(model: LoadedModel, chunks: TokenChunk[]): Promise<{ hidden: Float32Array; hiddenSize: number }> {
  const io = model.textIo.inputIds;
  const parts: Float32Array[] = [];
  for (const chunk of chunks) {
    const data = io.type === 'int64' ? BigInt64Array.from(chunk.ids, (v) => BigInt(v)) : chunk.ids;
    const out = await model.textEncoder.run({ [io.name]: { type: io.type, data, dims: [1, CHUNK_POSITIONS] } }, [model.textIo.output]);
    parts.push(applyEmphasis(asFloat32(outputNamed(out, model.textIo.output, 'text encoder')), chunk.weights));
  }
  const hidden = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (hidden.set(p, offset), offset + p.length), 0);
  return { hidden, hiddenSize: hidden.length / (chunks.length * CHUNK_POSITIONS) };
}

/** A1111's "Original" emphasis on one chunk [77, hidden]; states are returned untouched when every weight is 1. */
export function applyEmphasis(states: Float32Array, weights: Float32Array): Float32Array {
  if (weights.every((w) => w === 1)) return states;
  const hiddenSize = states.length / weights.length;
  const scaled = new Float32Array(states.length);
  for (let k = 0; k < states.length; k++) scaled[k] = fr(f32At(states, k) * f32At(weights, Math.floor(k / hiddenSize)));
  const newMean = fr(mean(scaled));
  // An all-zero weighting has mean 0: A1111 would divide by it and return NaN; leave it unscaled.
  if (newMean === 0) return scaled;
  const factor = fr(fr(mean(states)) / newMean);
  for (let k = 0; k < scaled.length; k++) scaled[k] = fr(f32At(scaled, k) * factor);
  return scaled;
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** The UNet's encoder_hidden_states for one denoising call, in the UNet's input type. */
export interface UnetHiddenStates {
  data: Float32Array | Uint16Array;
  /** Positions per image: 77 x chunks. */
  seqLen: number;
  hiddenSize: number;
}

export interface TextConditioning {
  /** Hidden states for denoising call `call` (0-based): [uncond x count, cond x count] with guidance, else [cond x count]. */
  hiddenAt(call: number): UnetHiddenStates;
  truncatedWords: string[];
  warnings: string[];
}

interface EncodedText {
  /** Order of encoding: identifies the text in the cache of UNet inputs. */
  index: number;
  hidden: Float32Array;
  chunks: number;
}

/**
 * Encodes the prompt and, with guidance, the negative prompt, for every step of their
 * schedules over `steps` steps (A1111 uses the requested steps; a sampler that calls the
 * UNet more often, as PNDM does, spreads them over its calls).
 */
export async function encodeConditioning(
  model: LoadedModel,
  req: Pick<GenerationRequest, 'prompt' | 'negativePrompt' | 'guidance' | 'count'>,
  steps: number,
): Promise<TextConditioning> {
  const fixed = model.unetIo.hidden.shape[1];
  const maxChunks = typeof fixed === 'number' && fixed > 0 ? Math.max(1, Math.floor(fixed / CHUNK_POSITIONS)) : Infinity;
  const guided = req.guidance > 1;
  const truncatedWords: string[] = [];
  const droppedTails = new Set<string>();
  const warnings: string[] = [];
  let hiddenSize = 0;
  const encoded = new Map<string, EncodedText>();
  const encode = async (text: string, side: string): Promise<EncodedText> => {
    let result = encoded.get(text);
    if (result === undefined) {
      const chunked = userError(side, () => chunkText(model.tokenizer, text, maxChunks));
      const states = await encodeChunks(model, chunked.chunks);
      hiddenSize = states.hiddenSize;
      result = { index: encoded.size, hidden: states.hidden, chunks: chunked.chunks.length };
      encoded.set(text, result);
      // Scheduled texts often share their dropped tail: list it once.
      const dropped = chunked.truncatedWords.join(' ');
      if (!droppedTails.has(dropped)) truncatedWords.push(...chunked.truncatedWords);
      droppedTails.add(dropped);
      const warning = `the ${side} has BREAK, but model ${model.info.name} reads only ${maxChunks * CHUNK_TOKENS} tokens: the text past them was dropped`;
      if (chunked.breakDropped && !warnings.includes(warning)) warnings.push(warning);
    }
    return result;
  };
  const schedule = async (text: string, side: string): Promise<EncodedText[]> => {
    const entries = userError(side, () => promptSchedules(text, steps));
    const texts: EncodedText[] = [];
    for (const [, scheduled] of entries) texts.push(await encode(scheduled, side));
    return spreadOverCalls(entries, texts);
  };

  const cond = await schedule(req.prompt, 'prompt');
  const uncond = guided ? await schedule(req.negativePrompt, 'negative prompt') : null;
  const longest = Math.max(...[...encoded.values()].map((e) => e.chunks));
  const empty = guided && longest > 1 ? await encode('', 'negative prompt') : null;

  const io = model.unetIo.hidden;
  const built = new Map<string, UnetHiddenStates>();
  return {
    truncatedWords,
    warnings,
    hiddenAt(call: number): UnetHiddenStates {
      const c = at(cond, Math.min(call, cond.length - 1));
      const u = uncond ? at(uncond, Math.min(call, uncond.length - 1)) : null;
      const key = `${c.index} ${u?.index ?? -1}`;
      let states = built.get(key);
      if (states === undefined) {
        const chunks = Math.max(c.chunks, u?.chunks ?? 0);
        const perImage = chunks * CHUNK_POSITIONS * hiddenSize;
        const sides = u ? [u, c] : [c];
        const data = new Float32Array(sides.length * req.count * perImage);
        sides.forEach((side, s) => {
          const padded = padWithEmpty(side, chunks, empty, hiddenSize);
          for (let i = 0; i < req.count; i++) data.set(padded, (s * req.count + i) * perImage);
        });
        // Converted once per distinct pair, not per step.
        states = { data: io.type === 'float16' ? floatsToHalf(data) : data, seqLen: chunks * CHUNK_POSITIONS, hiddenSize };
        built.set(key, states);
      }
      return states;
    },
  };
}

/** The text of each denoising call 0..steps: A1111's first entry whose end step is >= the call (the last entry ends at `steps`). */
function spreadOverCalls(entries: PromptScheduleEntry[], texts: EncodedText[]): EncodedText[] {
  const [steps] = at(entries, entries.length - 1);
  return Array.from({ length: steps + 1 }, (_, call) =>
    at(
      texts,
      entries.findIndex(([end]) => call <= end),
    ),
  );
}

function padWithEmpty(text: EncodedText, chunks: number, empty: EncodedText | null, hiddenSize: number): Float32Array {
  if (text.chunks === chunks) return text.hidden;
  const padded = new Float32Array(chunks * CHUNK_POSITIONS * hiddenSize);
  padded.set(text.hidden);
  if (empty === null) {
    throw new PipelineError(`internal error: ${text.chunks} chunks to pad to ${chunks} without the empty text`, {
      userVisible: false,
      retryable: false,
    });
  }
  for (let k = text.chunks; k < chunks; k++) padded.set(empty.hidden, k * CHUNK_POSITIONS * hiddenSize);
  return padded;
}

/** Prompt syntax errors are the user's: InvalidRequestError, never retried. */
function userError<T>(side: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PromptError) throw new InvalidRequestError(`${side}: ${err.message}`);
    throw err;
  }
}
