// Banned words, matched case- and accent-insensitively on whole words: text and words
// are both decomposed (NFKD), stripped of combining marks and lowercased, so "Nüde" and
// "NUDE" match "nude" but "nudes" and "denude" do not.

/** The comparable form of a text: NFKD, no combining marks, lowercase. */
export function foldText(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The first banned word found in any of the texts (as configured), or null. */
export function findBannedWord(texts: string[], bannedWords: string[]): string | null {
  const folded = texts.map(foldText);
  for (const word of bannedWords) {
    const w = foldText(word).trim();
    if (w === '') continue;
    // Whole words: no letter or digit right before or after (works for any script).
    const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(w)}(?![\\p{L}\\p{N}])`, 'u');
    if (folded.some((t) => pattern.test(t))) return word;
  }
  return null;
}
