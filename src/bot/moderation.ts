// Banned words: a prompt or negative prompt containing one is refused, however it is
// disguised. Texts and banned words are both brought to one form:
//   1. compatibility forms and accents removed: NFKD, combining marks dropped, then NFC (so
//      NFKC without accents): "ＮÜDE" is "NUDE", "ﬁsh" is "fish";
//   2. invisible characters dropped: format characters (\p{Cf}: zero-width space, soft
//      hyphen, word joiner, bidi controls), the other default-ignorable code points
//      (variation selectors, Hangul fillers) and control characters other than whitespace,
//      so "nu\u200Bde" is "nude";
//   3. lowercase, each run of whitespace one space;
//   4. letters that look like Latin ones read as those (Unicode TR39 confusables, see
//      confusables.ts): Cyrillic "е" is "e", Greek "ν" is "v". A text is read twice: with
//      look-alikes replaced before lowercasing (Greek capital "Ν" looks like N, its small
//      letter like v) and after (so "НЕТ" still matches a banned Cyrillic "нет").
// Word characters are the letters and digits of scripts that separate words with spaces;
// everything else separates words, and Han, kana and Hangul count as boundaries, so
// "日本nude" contains "nude". A banned word made of words of word characters, maybe with
// separators between them ("nude", "gros mot", "self-harm"), matches:
//   - whole words only: "nudes" and "denude" do not match "nude", nor "class" "ass";
//   - stretched: a letter written three or more times in a row counts as written once or
//     twice ("nuuude" is "nude"), but a doubled letter stays a different word ("good" does
//     not match "god", "as" does not match "ass");
//   - with any separators between its words: "gros mot" matches "gros-mot" and
//     "gros   mot", never "grosmot" (and "c++ code" matches "c code");
//   - spelled out: its letters one by one between separators ("n.u.d.e", "n-u-d-e",
//     "n u d e"), also within a longer such run ("a n u d e"), but only where every piece
//     is a single letter: "a ss" does not match "ass", nor "nu de" "nude".
// Any other banned word ("c++", "殺", "日本 nude") matches as written, not within a longer
// word ("c+" and "c++x" do not match "c++"); only letters of scripts written with spaces
// may be stretched ("殺殺す" contains "殺す").
// Not covered: digits and symbols used as letters ("nud3", "n*de").
import { at } from '../checked.js';
import { LOOK_ALIKES } from './confusables.js';

/** Dropped before anything else: combining marks (once NFKD has split accents off) and invisible characters. */
const MARKS_AND_INVISIBLES = new RegExp('[\\p{M}\\p{Cf}\\p{Default_Ignorable_Code_Point}[\\p{Cc}--\\s]]', 'gv');

const LATIN_READING = new Map<string, string>(
  Object.entries(LOOK_ALIKES).flatMap(([latin, letters]) => [...letters].map((letter) => [letter, latin] as const)),
);

/** A character that continues a word: a letter or digit of a script that separates words with spaces. */
const WORD_CHAR = '[[\\p{L}\\p{N}]--[\\p{sc=Han}\\p{sc=Hiragana}\\p{sc=Katakana}\\p{sc=Hangul}]]';
/**
 * Anything but a letter or a digit. (Not written [^\p{L}\p{N}]: Node 20's V8 misses matches
 * of a negated class repeated inside a group under the v flag.)
 */
const SEPARATOR = '[\\P{L}--\\p{N}]';
// The expressions with large Unicode classes are compiled once, here; a banned word
// compiles to a small expression without them, so a list of 200 compiles in milliseconds.
const NOT_WORD_CHARS = new RegExp(`[\\p{Any}--${WORD_CHAR}]+`, 'v');
/** Words of letters and digits with only separators between them: "nude", "gros mot", "self-harm". */
const IS_PLAIN_WORDS = new RegExp(`^${WORD_CHAR}+(?:${SEPARATOR}+${WORD_CHAR}+)*$`, 'v');
const STARTS_WITH_WORD_CHAR = new RegExp(`^${WORD_CHAR}`, 'v');
const ENDS_WITH_WORD_CHAR = new RegExp(`${WORD_CHAR}$`, 'v');
/** A letter that may be stretched: one of a script written with spaces. */
const IS_STRETCHABLE = new RegExp(`^[${WORD_CHAR}&&\\p{L}]$`, 'v');

/** NFKD, marks and invisible characters dropped, NFC, whitespace runs one space; case kept. */
function plainText(text: string): string {
  return text.normalize('NFKD').replace(MARKS_AND_INVISIBLES, '').normalize('NFC').replace(/\s+/gu, ' ');
}

function readLookAlikes(text: string): string {
  let out = '';
  for (const char of text) out += LATIN_READING.get(char) ?? char;
  return out;
}

/** The words of a text (runs of word characters) between single spaces, with a space at each end. */
function spacedWords(text: string): string {
  return ` ${text
    .split(NOT_WORD_CHARS)
    .filter((w) => w !== '')
    .join(' ')} `;
}

/** A text in matching form, and its words alone (what most banned words are looked for in). */
interface Reading {
  text: string;
  words: string;
}

/** The forms a text is matched in: look-alikes read before lowercasing, and after. */
function readings(text: string): Reading[] {
  const plain = plainText(text);
  const asWritten = readLookAlikes(plain).toLowerCase();
  const lowercased = readLookAlikes(plain.toLowerCase());
  const forms = asWritten === lowercased ? [asWritten] : [asWritten, lowercased];
  return forms.map((form) => ({ text: form, words: spacedWords(form) }));
}

/**
 * A banned word as /settings stores and shows it: steps 1-3 above (not the look-alikes,
 * which would make it unreadable), trimmed. Matching normalises again, so a word stored by
 * an older version of this function matches the same way.
 */
export function normalizeBannedWord(word: string): string {
  return plainText(word).toLowerCase().trim();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A run of one character, as a pattern: a letter may be stretched (see the top), anything else matches its exact count. */
function runPattern(char: string, count: number, join: string): string {
  const one = escapeRegExp(char);
  const next = `${join}${one}`;
  if (!IS_STRETCHABLE.test(char)) return count === 1 ? one : `${one}(?:${next}){${count - 1}}`;
  return count === 1 ? `${one}(?:(?:${next}){2,})?` : `${one}(?:${next}){${count - 1},}`;
}

/**
 * The pattern of a text, run by run, its characters joined by `join` ('' when written
 * together, ' ' when spelled out). A stretchable first run must start where the letter does
 * (a lookbehind), which also keeps a long run of it in the text from costing quadratic time.
 */
function runsPattern(text: string, join: string): string {
  const runs: Array<{ char: string; count: number }> = [];
  for (const char of text) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.char === char) last.count++;
    else runs.push({ char, count: 1 });
  }
  const first = at(runs, 0).char;
  const start = IS_STRETCHABLE.test(first) ? `(?<!${escapeRegExp(first)}${join})` : '';
  return start + runs.map((run) => runPattern(run.char, run.count, join)).join(join);
}

/** A banned word compiled: whether it is in a reading. */
type WordTest = (reading: Reading) => boolean;

/**
 * Words of letters and digits, with separators between them: looked for in a reading's
 * words, written together or spelled out (the spaces around make it whole words).
 */
function plainWordTest(words: string[]): WordTest {
  const alternatives = [words.map((word) => runsPattern(word, '')).join(' ')];
  const letters = words.join('');
  if ([...letters].length >= 2) alternatives.push(runsPattern(letters, ' '));
  const pattern = new RegExp(` (?:${alternatives.join('|')}) `, 'u');
  return (reading) => pattern.test(reading.words);
}

/** Any other word (with punctuation at an end, or letters of a script without spaces): looked for as it is, not within a word. */
function literalWordTest(form: string): WordTest {
  const pattern = new RegExp(runsPattern(form, ''), 'gu');
  return ({ text }) => {
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const end = match.index + match[0].length;
      if (
        !ENDS_WITH_WORD_CHAR.test(text.slice(Math.max(0, match.index - 2), match.index)) &&
        !STARTS_WITH_WORD_CHAR.test(text.slice(end, end + 2))
      )
        return true;
      pattern.lastIndex = match.index + 1;
    }
    return false;
  };
}

function compileWord(form: string): WordTest {
  return IS_PLAIN_WORDS.test(form) ? plainWordTest(form.split(NOT_WORD_CHARS)) : literalWordTest(form);
}

/** A word list compiled once, checked on every job. */
export interface BannedWordList {
  /** The first banned word (as configured) found in any of the texts, or null. */
  find(texts: readonly string[]): string | null;
}

export function compileBannedWords(bannedWords: readonly string[]): BannedWordList {
  const compiled: Array<{ word: string; test: WordTest }> = [];
  for (const word of bannedWords) {
    const form = readLookAlikes(normalizeBannedWord(word));
    if (form !== '') compiled.push({ word, test: compileWord(form) });
  }
  return {
    find(texts) {
      const forms = texts.flatMap(readings);
      for (const { word, test } of compiled) {
        if (forms.some(test)) return word;
      }
      return null;
    },
  };
}

/** Lists compiled so far, by content (most recently used last): the configured words, and those with each guild's. */
const compiledLists = new Map<string, BannedWordList>();
const MAX_COMPILED_LISTS = 200;

/** The first banned word (as configured) found in any of the texts, or null. Each list is compiled once. */
export function findBannedWord(texts: readonly string[], bannedWords: readonly string[]): string | null {
  const key = JSON.stringify(bannedWords);
  let list = compiledLists.get(key);
  if (list === undefined) {
    list = compileBannedWords(bannedWords);
    const oldest = compiledLists.keys().next();
    if (compiledLists.size >= MAX_COMPILED_LISTS && !oldest.done) compiledLists.delete(oldest.value);
  } else {
    compiledLists.delete(key);
  }
  compiledLists.set(key, list);
  return list.find(texts);
}
