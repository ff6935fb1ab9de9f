// Job ids: 12 characters of lowercase Crockford base32 (no i, l, o, u, so they are easy
// to read aloud and type in `/rerun job:<id>`). The first 8 encode milliseconds since
// 2024-01-01 (sortable by creation until 2058), the last 4 are random (20 bits).
import { randomInt } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const EPOCH_MS = Date.UTC(2024, 0, 1);
const TIME_CHARS = 8;
const RANDOM_CHARS = 4;
export const JOB_ID_LENGTH = TIME_CHARS + RANDOM_CHARS;

export function newJobId(nowMs: number = Date.now()): string {
  let time = Math.max(0, nowMs - EPOCH_MS);
  let id = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    id = ALPHABET[time % 32] + id;
    time = Math.floor(time / 32);
  }
  for (let i = 0; i < RANDOM_CHARS; i++) id += ALPHABET[randomInt(32)];
  return id;
}

/**
 * Reads a job id as a user typed it: trims, lowercases and maps the look-alikes
 * (o -> 0, i and l -> 1). Returns null when it cannot be one of our ids.
 */
export function normalizeJobId(text: string): string | null {
  const id = text.trim().toLowerCase().replace(/o/g, '0').replace(/[il]/g, '1');
  if (id.length !== JOB_ID_LENGTH) return null;
  for (const ch of id) if (!ALPHABET.includes(ch)) return null;
  return id;
}
