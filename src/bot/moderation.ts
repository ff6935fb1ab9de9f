// Banned words, matched case- and accent-insensitively on whole words: text and words
// are both decomposed (NFKD), stripped of combining marks, lowercased and their runs of
// whitespace made one space, so "Nüde" and "NUDE" match "nude" (and "gros   mot" matches
// "gros mot") but "nudes" and "denude" do not. Scripts written without spaces
// (Han, kana, Hangul) count as word boundaries, so "日本nude" matches too.

/** The comparable form of a text: NFKD, no combining marks, lowercase, each run of whitespace one space. */
export function foldText(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/gu, ' ');
}

/** A banned word as it is matched (and as /settings stores it): folded and trimmed. */
export function normalizeBannedWord(word: string): string {
  return foldText(word).trim();
}

/** A character that continues a word: a letter or digit of a script that separates words with spaces. */
const WORD_CHAR = '[[\\p{L}\\p{N}]--[\\p{sc=Han}\\p{sc=Hiragana}\\p{sc=Katakana}\\p{sc=Hangul}]]';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The first banned word found in any of the texts (as configured), or null. */
export function findBannedWord(texts: string[], bannedWords: string[]): string | null {
  const folded = texts.map(foldText);
  for (const word of bannedWords) {
    const w = normalizeBannedWord(word);
    if (w === '') continue;
    const pattern = new RegExp(`(?<!${WORD_CHAR})${escapeRegExp(w)}(?!${WORD_CHAR})`, 'v');
    if (folded.some((t) => pattern.test(t))) return word;
  }
  return null;
}
