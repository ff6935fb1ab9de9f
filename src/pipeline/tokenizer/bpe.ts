// Byte-level BPE as CLIP uses it: a word's UTF-8 bytes become GPT-2's printable
// byte characters, the last one carries the end-of-word marker `</w>`, and the
// lowest-ranked adjacent pair is merged until no ranked pair is left.

import { at } from '../../checked.js';

export const END_OF_WORD = '</w>';

/** GPT-2's reversible byte -> character table: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards. */
function byteCharacters(): string[] {
  const table = new Array<string>(256);
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
  for (const [i, rawLine] of text.split('\n').entries()) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
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
  let symbols = Array.from(bytes, (b) => at(BYTE_CHARS, b));
  const last = symbols.length - 1;
  symbols[last] = at(symbols, last) + END_OF_WORD;
  while (symbols.length > 1) {
    let bestRank = Infinity;
    let bestPair = '';
    let left: string | null = null;
    for (const right of symbols) {
      if (left !== null) {
        const pair = left + ' ' + right;
        const rank = ranks.get(pair);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestPair = pair;
        }
      }
      left = right;
    }
    if (bestRank === Infinity) break;
    // Merge every occurrence of the best pair, left to right; `held` is the symbol before `symbol`, not yet pushed.
    const merged: string[] = [];
    let held: string | null = null;
    for (const symbol of symbols) {
      if (held !== null && held + ' ' + symbol === bestPair) {
        merged.push(held + symbol);
        held = null;
      } else {
        if (held !== null) merged.push(held);
        held = symbol;
      }
    }
    if (held !== null) merged.push(held);
    symbols = merged;
  }
  return symbols;
}
