// Byte-level BPE as CLIP uses it: a word's UTF-8 bytes become GPT-2's printable
// byte characters, the last one carries the end-of-word marker `</w>`, and the
// lowest-ranked adjacent pair is merged until no ranked pair is left.

export const END_OF_WORD = '</w>';

/** GPT-2's reversible byte -> character table: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards. */
function byteCharacters(): string[] {
  const table: string[] = new Array(256);
  const isPrintable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(isPrintable(b) ? b : next++);
  return table;
}

export const BYTE_CHARS: readonly string[] = Object.freeze(byteCharacters());

/** Merge ranks keyed by `left + ' ' + right` (symbols never contain a space). */
export type MergeRanks = Map<string, number>;

/** Parses merges.txt: an optional `#version` header, then one `left right` pair per line, rank = order. */
export function parseMerges(text: string): MergeRanks {
  const ranks: MergeRanks = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
    const space = line.indexOf(' ');
    if (space <= 0 || space === line.length - 1 || line.includes(' ', space + 1)) {
      throw new SyntaxError(`merges line ${i + 1} is not a pair of symbols: ${JSON.stringify(line)}`);
    }
    ranks.set(line, ranks.size);
  }
  return ranks;
}

const utf8 = new TextEncoder();

/** The BPE symbols of one pre-tokenized word (before vocabulary lookup). */
export function bpeSymbols(word: string, ranks: MergeRanks): string[] {
  const bytes = utf8.encode(word);
  if (bytes.length === 0) return [];
  const symbols = Array.from(bytes, (b) => BYTE_CHARS[b]);
  symbols[symbols.length - 1] += END_OF_WORD;
  while (symbols.length > 1) {
    let bestRank = Infinity;
    let bestPair = '';
    for (let i = 0; i + 1 < symbols.length; i++) {
      const pair = symbols[i] + ' ' + symbols[i + 1];
      const rank = ranks.get(pair);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        bestPair = pair;
      }
    }
    if (bestRank === Infinity) break;
    // Merge every occurrence of the best pair, left to right.
    const merged: string[] = [];
    for (let i = 0; i < symbols.length; i++) {
      if (i + 1 < symbols.length && symbols[i] + ' ' + symbols[i + 1] === bestPair) {
        merged.push(symbols[i] + symbols[i + 1]);
        i++;
      } else {
        merged.push(symbols[i]);
      }
    }
    symbols.length = 0;
    symbols.push(...merged);
  }
  return symbols;
}
