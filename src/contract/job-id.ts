// Job ids: 12 characters of lowercase Crockford base32 (no i, l, o, u, so they are easy
// to read aloud and type in `/rerun job:<id>`). The first 8 encode milliseconds since
// 2024-01-01 (sortable by creation until 2058), the last 4 are random (20 bits). An id is
// never all digits: when the first 11 are, the last is a letter. A job id is also the BullMQ
// job id and part of button custom_ids.
import { randomInt } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const LETTERS = ALPHABET.slice(10);
const EPOCH_MS = Date.UTC(2024, 0, 1);
const TIME_CHARS = 8;
const RANDOM_CHARS = 4;
export const JOB_ID_LENGTH = TIME_CHARS + RANDOM_CHARS;

/** What custom_ids and queues accept as a job id (ours, and the longer ones of tests and older releases). */
const JOB_ID = /^[a-z0-9]{6,32}$/;

/**
 * BullMQ refuses custom job ids that read as integers (`String(parseInt(id)) === id`). Our
 * own ids never contain only digits; ids from tests, older releases or a user's typing may.
 */
function readsAsInteger(id: string): boolean {
  return String(Number.parseInt(id, 10)) === id;
}

export function isJobId(id: string): boolean {
  return JOB_ID.test(id) && !readsAsInteger(id);
}

/**
 * A new job id for `nowMs`. `draw(n)` returns a whole number in [0, n) (crypto's randomInt
 * by default; tests pass their own to reach the rare cases).
 */
export function newJobId(nowMs: number = Date.now(), draw: (bound: number) => number = randomInt): string {
  let time = Math.max(0, nowMs - EPOCH_MS);
  let id = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    id = ALPHABET[time % 32] + id;
    time = Math.floor(time / 32);
  }
  for (let i = 0; i < RANDOM_CHARS - 1; i++) id += ALPHABET[draw(32)];
  // An id of digits only would read as a number (BullMQ refuses those as custom ids):
  // after eleven digits the last character is a letter. No retry loop, nothing left to chance.
  id += /^[0-9]+$/.test(id) ? LETTERS[draw(LETTERS.length)] : ALPHABET[draw(32)];
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
