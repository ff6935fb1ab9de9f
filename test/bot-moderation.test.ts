// Banned words: case- and accent-insensitive, whole words, any script, and not bypassed by
// invisible characters, look-alike letters, separators or stretched letters.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { confusablesModule, readTr39Data, TABLE_FILE } from '../scripts/generate-confusables.js';
import { compileBannedWords, findBannedWord, normalizeBannedWord } from '../src/bot/moderation.js';
import { parseRatio, sizeForAspect, sizeForRatio } from '../src/bot/sizes.js';

/** The normaliser /settings stored words with before look-alikes and invisible characters counted. */
const oldNormalizer = (word: string) => word.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/gu, ' ').trim();

describe('findBannedWord', () => {
  const banned = ['nude', 'gros mot', 'c++', '殺', 'ass', 'god', 'нет'];

  it.each([
    ['NUDE portrait', 'nude'],
    ['a Nüde statue', 'nude'],
    ['NÜDE', 'nude'],
    ['ｎｕｄｅ (full width)', 'nude'],
    ['𝐧𝐮𝐝𝐞 and ⓝⓤⓓⓔ', 'nude'],
    ['n\u0075\u0301de', 'nude'],
    ['n\u0336u\u0336d\u0336e\u0336 (struck through)', 'nude'],
    ['日本nude', 'nude'],
    ['quel GROS MOT', 'gros mot'],
    ['coding in C++ today', 'c++'],
    ['人を殺す', '殺'],
    ['НЕТ и Нет', 'нет'],
    ['a s s', 'ass'],
  ])('finds %j', (text, word) => {
    expect(findBannedWord([text], banned)).toBe(word);
  });

  it.each([
    ['zero-width space', 'nu\u200Bde'],
    ['soft hyphen', 'nu\u00ADde'],
    ['word joiner', 'nu\u2060de'],
    ['zero-width joiner and non-joiner', 'n\u200Du\u200Cde'],
    ['right-to-left override', 'nu\u202Ede'],
    ['variation selector', 'nu\uFE0Fde'],
    ['Hangul filler', 'nu\u3164de'],
    ['control character', 'nu\u0007de'],
    ['Cyrillic е', 'nud\u0435'],
    ['Cyrillic capital Е', 'NUD\u0415'],
    ['Greek capital Nu (small nu reads v)', '\u039DUDE'],
    ['Greek υ', 'n\u03C5de'],
    ['Armenian ս', 'n\u057Dde'],
    ['Cyrillic е in a stretched word', 'nuuud\u0435'],
    ['dots between single letters', 'n.u.d.e'],
    ['hyphens between single letters', 'n-u-d-e'],
    ['spaces between single letters', 'a n u d e statue'],
    ['mixed separators and emoji', 'n_u🍑d / e'],
    ['stretched letters', 'nuuude'],
    ['stretched letters, spelled out', 'n u u u d e'],
    ['every trick at once', 'N.\u03C5\u200B.D.ё'],
  ])('is not bypassed by %s (%j)', (_label, text) => {
    expect(findBannedWord([text], ['nude'])).toBe('nude');
  });

  it.each([
    ['nudes', 'nude'],
    ['denude', 'nude'],
    ['nude2', 'nude'],
    ['nuude (a doubled letter is a different word)', 'nude'],
    ['nu de (pieces longer than a letter are words)', 'nude'],
    ['n.uu.d.e', 'nude'],
    ['first class', 'ass'],
    ['a bass, a mass, to assess a passage', 'ass'],
    ['a ss', 'ass'],
    ['as far as I know', 'ass'],
    ['a s', 'ass'],
    ['a good dog', 'god'],
    ['grosmot', 'gros mot'],
    ['c+', 'c++'],
    ['c++x', 'c++'],
    ['a calm lake', 'nude'],
  ])('lets %j through (%j banned)', (text, word) => {
    expect(findBannedWord([text], [word])).toBeNull();
  });

  it('reads spelled-out letters anywhere in their run, and separators between the words of a phrase', () => {
    expect(findBannedWord(['n u d e s'], ['nude'])).toBe('nude');
    expect(findBannedWord(['g r o s m o t'], ['gros mot'])).toBe('gros mot');
    expect(findBannedWord(['gros-mot, gros_mot'], ['gros mot'])).toBe('gros mot');
    expect(findBannedWord(['self harm'], ['self-harm'])).toBe('self-harm');
    expect(findBannedWord(['gooood'], ['god'])).toBe('god');
    expect(findBannedWord(['n n u d e'], ['nude'])).toBeNull();
    expect(findBannedWord(['殺殺す'], ['殺す'])).toBe('殺す');
  });

  it('checks every text (prompt and negative prompt)', () => {
    expect(findBannedWord(['fine', 'but NUDE here'], banned)).toBe('nude');
    expect(findBannedWord(['anything'], [])).toBeNull();
    expect(findBannedWord(['anything'], ['\u200B', ' '])).toBeNull();
  });

  it('keeps words stored by the old normaliser matching', () => {
    const texts: Record<string, string[]> = {
      'Dragón   Fruit': ['a dragon fruit', 'DRAGON-FRUIT'],
      ﬁsh: ['a FISH', 'ｆｉｓｈ'],
      한국: ['한국 음식', '日本と한국'],
      'nu\u200Bde': ['nude', 'n.u.d.e'],
      Éclair: ['an eclair', 'an ÉCLAIR'],
      Straße: ['STRAßE', 'straße'],
    };
    for (const [word, examples] of Object.entries(texts)) {
      const stored = oldNormalizer(word);
      expect(normalizeBannedWord(stored), word).toBe(normalizeBannedWord(word));
      for (const text of examples) {
        expect(findBannedWord([text], [stored]), `${text} / ${stored}`).toBe(stored);
        expect(findBannedWord([text], [word]), `${text} / ${word}`).toBe(word);
      }
    }
    // A syllable is not a part of another one (Hangul is compared composed).
    expect(findBannedWord(['한'], [oldNormalizer('하')])).toBeNull();
  });

  it('normalises a word for storing without look-alikes, so it stays readable', () => {
    expect(normalizeBannedWord('  Dragón \t  FRUIT ')).toBe('dragon fruit');
    expect(normalizeBannedWord('nu\u200Bde')).toBe('nude');
    expect(normalizeBannedWord('НЕТ')).toBe('нет');
    expect(normalizeBannedWord('Ça Été')).toBe('ca ete');
    expect(normalizeBannedWord('\u200B\u00AD')).toBe('');
  });

  it('is quick: 200 words against a 1000-character prompt', () => {
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const word = (length: number) => Array.from({ length }, () => 'abcdefghijklmnopqrstuvwxyz'[random(26)]).join('');
    const words = Array.from({ length: 200 }, (_, i) => (i % 10 === 0 ? `${word(5)} ${word(6)}` : word(4 + random(8))));
    let prompt = '';
    while (prompt.length < 1000) prompt += `${word(2 + random(8))}${random(10) === 0 ? ', ' : ' '}`;
    // Cyrillic capitals make two readings, the slower case.
    prompt = `НЕТ ${prompt}`.slice(0, 1000);
    const list = compileBannedWords(words);
    expect(list.find([prompt, 'blurry'])).toBeNull();
    const times = Array.from({ length: 21 }, () => {
      const start = performance.now();
      list.find([prompt, 'blurry, low quality']);
      return performance.now() - start;
    });
    // Typically 0.5-1.5 ms on the 2-core CI machine; the bound only catches a regression by an order of magnitude.
    expect(times.sort((a, b) => a - b)[10]).toBeLessThan(25);
    expect(list.find([`${prompt.slice(0, 990)} ${words[199]}`])).toBe(words[199]);
  });

  it.each([
    ['a spelled-out run of one letter', 'a '.repeat(500), (i: number) => `a${'bcdefghij'[i % 9]}${'klmnopq'[i % 7]}`],
    ['a long word of one letter', 'a'.repeat(1000), (i: number) => `aa${'bcdefghij'[i % 9]}${'klmnopq'[i % 7]}`],
    ['a run of one Han character', '殺'.repeat(1000), (i: number) => `殺${'あいうえおかきくけこ'[i % 10]}${'人'.repeat(i % 5)}`],
    ['a run of a letter before punctuation', 'c'.repeat(1000), (i: number) => `c${'bdefghij'[i % 8]}${'klmnopq'[i % 7]}+`],
  ])('stays linear on %s (no quadratic backtracking)', (_label, prompt, wordFor) => {
    const list = compileBannedWords(Array.from({ length: 200 }, (_, i) => wordFor(i)));
    // The fastest of a few checks of the text twice and 8 times over: linear work takes
    // about 4 times as long for 4 times the text, quadratic backtracking about 16 times (it
    // took 45-170 ms here on the text once).
    // A ratio, not a time; and the fastest run, since other load (or a GC pause) only ever
    // adds time to a run: a median still caught one on a busy machine.
    const fastestMs = (text: string) => {
      list.find([text]);
      return Math.min(
        ...Array.from({ length: 9 }, () => {
          const start = performance.now();
          expect(list.find([text])).toBeNull();
          return performance.now() - start;
        }),
      );
    };
    const short = fastestMs(prompt.repeat(2));
    const long = fastestMs(prompt.repeat(8));
    expect(long / Math.max(short, 0.05)).toBeLessThan(9);
  });
});

describe('the look-alike table', () => {
  it('is what scripts/generate-confusables.ts makes from the TR39 data', () => {
    expect(readFileSync(TABLE_FILE, 'utf8')).toBe(confusablesModule(readTr39Data()));
  });

  it('reads Cyrillic, Greek and Latin look-alikes as ASCII letters, and leaves ASCII alone', () => {
    const banned = ['aeio', 'm', 'l', 'rn', 'o'];
    expect(findBannedWord(['\u0430\u0435\u0456\u043E'], banned)).toBe('aeio'); // Cyrillic а е і о
    expect(findBannedWord(['\u0391\u0395\u0399\u039F'], banned)).toBe('aeio'); // Greek capitals Α Ε Ι Ο
    expect(findBannedWord(['\u0271'], banned)).toBe('m'); // ɱ: TR39 writes m as "rn"
    expect(findBannedWord(['\u0142'], banned)).toBe('l'); // ł
    expect(findBannedWord(['m'], ['rn'])).toBeNull();
    expect(findBannedWord(['0'], ['o'])).toBeNull();
  });
});

describe('sizeForAspect and sizeForRatio', () => {
  const demo = { nativeWidth: 128, nativeHeight: 128, sizeMultiple: 64, fixedSize: null };
  const sd = { nativeWidth: 512, nativeHeight: 512, sizeMultiple: 64, fixedSize: null };

  it('maps aspects to multiples of the model size near its native area', () => {
    expect(sizeForAspect('1:1', demo, 1 << 20)).toEqual({ width: 128, height: 128 });
    expect(sizeForAspect('4:3', demo, 1 << 20)).toEqual({ width: 192, height: 128 });
    expect(sizeForAspect('9:16', demo, 1 << 20)).toEqual({ width: 128, height: 192 });
    expect(sizeForAspect('4:3', sd, 1 << 20)).toEqual({ width: 512, height: 384 });
    expect(sizeForAspect('16:9', sd, 1 << 20)).toEqual({ width: 576, height: 320 });
    expect(sizeForAspect('3:4', sd, 1 << 20)).toEqual({ width: 384, height: 512 });
  });

  it('stays within MAX_PIXELS', () => {
    const { width, height } = sizeForAspect('16:9', sd, 512 * 512);
    expect(width * height).toBeLessThanOrEqual(512 * 512);
    expect((width % 64) + (height % 64)).toBe(0);
  });

  it('takes any ratio for --ar, and a fixed-size model makes only its size', () => {
    expect(parseRatio('2.39:1')).toBeCloseTo(2.39);
    expect(['21:9', '0:1', '16x9', '9:1', 'a:b'].map(parseRatio)).toEqual([21 / 9, null, null, null, null]);
    expect(sizeForRatio(21 / 9, sd, 1 << 20)).toEqual({ width: 896, height: 384 });
    expect(sizeForRatio(16 / 9, { ...demo, fixedSize: { width: 128, height: 128 } }, 1 << 20)).toEqual({ width: 128, height: 128 });
  });
});
