// ClipTokenizer against every prompt of the shared transformers 5.x vectors, plus
// truncation reporting, special tokens, tokenizer-folder settings and load errors.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { ModelLoadError } from '../src/pipeline/errors.js';
import { ClipTokenizer } from '../src/pipeline/tokenizer/index.js';
import { CLIP_BPE_DIR, REPO_VECTORS_DIR } from '../src/vectors/index.js';
import { checkTokenizerVectorFile } from '../src/vectors/tokenizer.js';

const vectors = JSON.parse(readFileSync(join(REPO_VECTORS_DIR, 'tokenizer', 'clip_tokenizer_vectors.json'), 'utf8'));
const vocab = JSON.parse(readFileSync(join(CLIP_BPE_DIR, 'vocab.json'), 'utf8')) as Record<string, number>;
const merges = readFileSync(join(CLIP_BPE_DIR, 'merges.txt'), 'utf8');
const tokenizer = ClipTokenizer.fromData(vocab, merges);
const BOS = 49406;
const EOS = 49407;

const tempDirs: string[] = [];
function tokenizerFolder(extra: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'clip-tokenizer-'));
  tempDirs.push(dir);
  copyFileSync(join(CLIP_BPE_DIR, 'vocab.json'), join(dir, 'vocab.json'));
  copyFileSync(join(CLIP_BPE_DIR, 'merges.txt'), join(dir, 'merges.txt'));
  for (const [name, content] of Object.entries(extra)) writeFileSync(join(dir, name), JSON.stringify(content));
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('ClipTokenizer vs transformers 5.x CLIPTokenizer', () => {
  it('gives identical input_ids and num_tokens for every prompt of clip_tokenizer_vectors.json', () => {
    expect(vectors.cases).toHaveLength(vectors.num_prompts);
    const mismatches = vectors.cases
      .map((c: any) => ({ c, got: tokenizer.encode(c.prompt) }))
      .filter(({ c, got }: any) => got.numTokens !== c.num_tokens || Array.from(got.inputIds).join() !== c.input_ids.join())
      .map(({ c }: any) => `${c.i}: ${JSON.stringify(c.prompt)}`);
    expect(mismatches).toEqual([]);
  });

  it('passes through the vector runner', () => {
    const result = checkTokenizerVectorFile(vectors, { vocab, merges });
    expect(result).toMatchObject({ passed: true, maxAbsError: 0 });
  });
});

describe('encode', () => {
  it('pads with <|endoftext|> by default and returns a fresh array each time', () => {
    const a = tokenizer.encode('a photo of a cat');
    expect(Array.from(a.inputIds.subarray(0, 8))).toEqual([BOS, 320, 1125, 539, 320, 2368, EOS, EOS]);
    expect(a).toMatchObject({ numTokens: 7, truncatedWords: [] });
    expect(a.inputIds).toHaveLength(77);
    a.inputIds[1] = 0;
    expect(tokenizer.encode('a photo of a cat').inputIds[1]).toBe(320);
  });

  it('reports the words whose tokens did not fit, a word cut in the middle included', () => {
    const words = Array.from({ length: 80 }, (_, i) => `w${i}`);
    // "w<i>" is one token for the letter and one per digit, so the cut falls inside the list.
    const encoded = tokenizer.encode(words.join(' '));
    expect(encoded.numTokens).toBe(77);
    expect(encoded.inputIds[76]).toBe(EOS);
    expect(encoded.truncatedWords.length).toBeGreaterThan(0);
    expect(encoded.truncatedWords.at(-1)).toBe('w79');
    const firstDropped = words.indexOf(at(encoded.truncatedWords, 0));
    expect(encoded.truncatedWords).toEqual(words.slice(firstDropped));

    const cats = tokenizer.encode(`${'cat '.repeat(74)}cat dog, FOX`);
    expect(cats.truncatedWords).toEqual(['dog,', 'FOX']);
    expect(tokenizer.encode('cat '.repeat(75)).truncatedWords).toEqual([]);
  });

  it('maps special tokens written in the prompt to their ids, case-sensitively', () => {
    expect(Array.from(tokenizer.encode('a <|endoftext|> b').inputIds.subarray(0, 5))).toEqual([BOS, 320, EOS, 321, EOS]);
    expect(tokenizer.encode('<|ENDOFTEXT|>').numTokens).toBeGreaterThan(3);
  });

  it('lowercases a capital sigma to σ even at the end of a word', () => {
    expect(Array.from(tokenizer.encode('ΟΔΟΣ').inputIds)).toEqual(Array.from(tokenizer.encode('οδοσ').inputIds));
  });
});

describe('fromFiles', () => {
  it('loads the demo model tokenizer folder with CLIP defaults', async () => {
    const loaded = await ClipTokenizer.fromFiles(CLIP_BPE_DIR);
    expect(loaded).toMatchObject({ maxLength: 77, padTokenId: EOS, bosTokenId: BOS, eosTokenId: EOS });
  });

  it('takes pad_token and model_max_length from the tokenizer files (SD 2.x pads with "!")', async () => {
    const dir = tokenizerFolder({
      'tokenizer_config.json': { model_max_length: 77, pad_token: '<|endoftext|>' },
      'special_tokens_map.json': { pad_token: { content: '!', lstrip: false } },
    });
    const sd2 = await ClipTokenizer.fromFiles(dir);
    expect(sd2.padTokenId).toBe(0);
    expect(Array.from(sd2.encode('a cat').inputIds.subarray(0, 6))).toEqual([BOS, 320, 2368, EOS, 0, 0]);

    const unlimited = await ClipTokenizer.fromFiles(tokenizerFolder({ 'tokenizer_config.json': { model_max_length: 1e30 } }));
    expect(unlimited.maxLength).toBe(77);
    const short = await ClipTokenizer.fromFiles(tokenizerFolder({ 'tokenizer_config.json': { model_max_length: 8 } }));
    expect(short.encode('one two three four five six seven')).toMatchObject({ numTokens: 8, truncatedWords: ['seven'] });
  });

  it('names the problem when files are missing or wrong', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'clip-tokenizer-'));
    tempDirs.push(empty);
    await expect(ClipTokenizer.fromFiles(empty)).rejects.toThrow(new ModelLoadError(`${join(empty, 'vocab.json')} is missing`));
    const badPad = tokenizerFolder({ 'special_tokens_map.json': { pad_token: '<pad>' } });
    await expect(ClipTokenizer.fromFiles(badPad)).rejects.toThrow(`${badPad}: pad token "<pad>" is not in vocab.json`);
    const badMerges = tokenizerFolder({});
    writeFileSync(join(badMerges, 'merges.txt'), '#version: 0.2\ni n\nthree parts here\n');
    await expect(ClipTokenizer.fromFiles(badMerges)).rejects.toThrow(
      `${badMerges}: merges line 3 is not a pair of symbols: "three parts here"`,
    );
    expect(() => ClipTokenizer.fromData(vocab, merges, { maxLength: 1 })).toThrow(
      new RangeError('maxLength must be an integer >= 2, got 1'),
    );
  });
});
