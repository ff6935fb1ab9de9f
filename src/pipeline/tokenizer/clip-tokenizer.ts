// CLIP's text tokenizer, identical to transformers 5.x `CLIPTokenizer` (the Rust
// `tokenizers` pipeline) on the shared vectors:
//   1. literal `<|startoftext|>` / `<|endoftext|>` in the raw text become their ids;
//   2. the text between them: NFC, whitespace runs -> one space, per-character lowercase
//      (so a capital sigma always becomes σ, never the final ς);
//   3. CLIP's split regex, then the byte-level pre-tokenizer's GPT-2 split of each piece
//      (which only changes a lowercased special-token literal such as `<|endoftext|>`:
//      it becomes `<|`, `endoftext`, `|>`); each part -> byte-level BPE with `</w>` at its end;
//   4. BOS + at most maxLength-2 tokens + EOS, padded to maxLength with the pad id.
// It does not run ftfy or HTML unescaping (transformers 4.x slow and open_clip do).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { at } from '../../checked.js';
import { ModelLoadError } from '../errors.js';
import { bpeSymbols, parseMerges, type MergeRanks } from './bpe.js';

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
/** SD's text encoders take 77 positions. */
export const DEFAULT_MAX_LENGTH = 77;

const SPECIAL_TOKEN = /(<\|startoftext\|>|<\|endoftext\|>)/;
const WHITESPACE = /\p{White_Space}+/u;
// CLIP's pre-tokenizer split (\s is Unicode White_Space there, as in tokenizers' Oniguruma regexes).
const PIECE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/gu;
// GPT-2's split, as the ByteLevel pre-tokenizer applies it (pieces hold no whitespace here).
const BYTE_LEVEL_PART = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}+|[^\p{White_Space}\p{L}\p{N}]+/gu;
// BPE results are cached per piece; the cache is dropped when it grows past this many
// pieces so a long-running worker fed unusual prompts stays bounded.
const MAX_CACHED_PIECES = 20_000;

export interface ClipTokenizerOptions {
  /** Id written after EOS up to maxLength. Default: the id of `<|endoftext|>` (SD 1.x); SD 2.x uses 0 (`!`). */
  padTokenId?: number;
  /** Length of `inputIds`, BOS and EOS included. Default 77. */
  maxLength?: number;
}

export interface ClipEncoding {
  /** BOS, the first maxLength-2 content tokens, EOS, then padding: always maxLength ids. */
  inputIds: Int32Array;
  /** BOS + kept content tokens + EOS (the attention mask's sum). */
  numTokens: number;
  /** Whitespace-separated words of the prompt that lost some or all of their tokens to truncation, in order. */
  truncatedWords: string[];
}

/** Content tokens of a text (see ClipTokenizer.tokenize). */
export interface ClipTokens {
  ids: number[];
  /** For each token, its word's index in `words`. */
  wordOfToken: number[];
  /** The text's whitespace-separated words (a special-token literal is a word of its own). */
  words: string[];
}

export class ClipTokenizer {
  readonly maxLength: number;
  readonly padTokenId: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  private readonly cache = new Map<string, Int32Array>();

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly ranks: MergeRanks,
    options: ClipTokenizerOptions,
  ) {
    const bos = vocab.get(START_OF_TEXT);
    const eos = vocab.get(END_OF_TEXT);
    if (bos === undefined || eos === undefined) {
      throw new ModelLoadError(`the CLIP vocabulary has no ${bos === undefined ? START_OF_TEXT : END_OF_TEXT} token`);
    }
    this.bosTokenId = bos;
    this.eosTokenId = eos;
    const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new RangeError(`maxLength must be an integer >= 2, got ${String(maxLength)}`);
    }
    const padTokenId = options.padTokenId ?? eos;
    if (!Number.isInteger(padTokenId) || padTokenId < 0) {
      throw new RangeError(`padTokenId must be a token id (an integer >= 0), got ${String(padTokenId)}`);
    }
    this.maxLength = maxLength;
    this.padTokenId = padTokenId;
  }

  /** From parsed `vocab.json` (token -> id) and the text of `merges.txt`. */
  static fromData(vocab: Record<string, number>, merges: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    return new ClipTokenizer(vocabMap(vocab), parseMerges(merges), options);
  }

  /**
   * From a Hugging Face tokenizer folder: `vocab.json`, `merges.txt`, and when present
   * `tokenizer_config.json` (`model_max_length`, `pad_token`) and `special_tokens_map.json`
   * (`pad_token`, which wins, as in transformers). ModelLoadError names the bad file.
   */
  static async fromFiles(dir: string): Promise<ClipTokenizer> {
    const vocab = await readJson(join(dir, 'vocab.json'));
    if (vocab === undefined) throw new ModelLoadError(`${join(dir, 'vocab.json')} is missing`);
    const mergesPath = join(dir, 'merges.txt');
    if (!existsSync(mergesPath)) throw new ModelLoadError(`${mergesPath} is missing`);
    const merges = await readFile(mergesPath, 'utf8');
    const config = (await readJson(join(dir, 'tokenizer_config.json'))) ?? {};
    const specialTokens = (await readJson(join(dir, 'special_tokens_map.json'))) ?? {};

    // transformers writes a huge sentinel when a tokenizer has no length limit.
    const configured = config.model_max_length;
    const maxLength = typeof configured === 'number' && Number.isInteger(configured) && configured <= 1_000_000 ? configured : undefined;
    const padToken = tokenContent(specialTokens.pad_token) ?? tokenContent(config.pad_token);
    try {
      const tokenIds = vocabMap(vocab);
      let padTokenId: number | undefined;
      if (padToken !== undefined) {
        padTokenId = tokenIds.get(padToken);
        if (padTokenId === undefined) throw new ModelLoadError(`pad token ${JSON.stringify(padToken)} is not in vocab.json`);
      }
      return new ClipTokenizer(tokenIds, parseMerges(merges), { padTokenId, maxLength });
    } catch (err) {
      if (err instanceof Error) throw new ModelLoadError(`${dir}: ${err.message}`);
      throw err;
    }
  }

  encode(prompt: string): ClipEncoding {
    const { ids, wordOfToken, words } = this.tokenize(prompt);
    const kept = Math.min(ids.length, this.maxLength - 2);
    const inputIds = new Int32Array(this.maxLength).fill(this.padTokenId);
    inputIds[0] = this.bosTokenId;
    inputIds.set(ids.slice(0, kept), 1);
    inputIds[kept + 1] = this.eosTokenId;

    const truncatedWords: string[] = [];
    let lastWord = -1;
    for (const word of wordOfToken.slice(kept)) {
      if (word !== lastWord) {
        lastWord = word;
        truncatedWords.push(at(words, word));
      }
    }
    return { inputIds, numTokens: kept + 2, truncatedWords };
  }

  /**
   * A piece of text as content token ids (no BOS/EOS, no truncation), each with the index
   * of the whitespace-separated word it came from: what A1111 tokenizes each emphasis
   * piece with before laying pieces into 75-token chunks.
   */
  tokenize(prompt: string): ClipTokens {
    const ids: number[] = [];
    const wordOfToken: number[] = [];
    const words: string[] = [];
    // Split keeps the special tokens at the odd indices.
    for (const [s, segment] of prompt.split(SPECIAL_TOKEN).entries()) {
      if (s % 2 === 1) {
        words.push(segment);
        ids.push(segment === START_OF_TEXT ? this.bosTokenId : this.eosTokenId);
        wordOfToken.push(words.length - 1);
        continue;
      }
      // Pieces never span whitespace, so each raw word can be normalized and split on its own.
      for (const word of segment.split(WHITESPACE)) {
        if (word === '') continue;
        words.push(word);
        for (const piece of normalize(word).match(PIECE) ?? []) {
          for (const id of this.pieceIds(piece)) {
            ids.push(id);
            wordOfToken.push(words.length - 1);
          }
        }
      }
    }
    return { ids, wordOfToken, words };
  }

  private pieceIds(piece: string): Int32Array {
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      // Every byte symbol is in CLIP's vocabulary; unknown symbols would map to <|endoftext|> (CLIP's unk).
      const symbols = (piece.match(BYTE_LEVEL_PART) ?? []).flatMap((part) => bpeSymbols(part, this.ranks));
      ids = Int32Array.from(symbols, (symbol) => this.vocab.get(symbol) ?? this.eosTokenId);
      if (this.cache.size >= MAX_CACHED_PIECES) this.cache.clear();
      this.cache.set(piece, ids);
    }
    return ids;
  }
}

/** vocab.json's object as a Map (a for-in loop: several times faster than Object.entries on 49k keys). */
function vocabMap(vocab: Record<string, unknown>): Map<string, number> {
  const map = new Map<string, number>();
  for (const token in vocab) {
    const id = vocab[token];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new ModelLoadError(`vocab.json: the id of ${JSON.stringify(token)} is not a token id`);
    }
    map.set(token, id);
  }
  return map;
}

/** NFC, then lowercase one character at a time (capital sigma -> σ regardless of position). */
function normalize(word: string): string {
  return word.normalize('NFC').replaceAll('Σ', 'σ').toLowerCase();
}

/** A special token as tokenizer files write it: a string or `{ content: string }`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** Parsed JSON object of an optional file; undefined when the file does not exist. */
async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ModelLoadError(`${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ModelLoadError(`${path} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}
