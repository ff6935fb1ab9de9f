// Fuzz: 1,000 slash commands with random option values (lengths, unicode, negative and
// huge numbers, wrong types, unknown options). Each must end in a clear ephemeral message
// or a valid job, never in an internal error, a missed deadline or an unhandled rejection.
// No worker runs: a heartbeat advertises the demo model, and the quota caps the jobs.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { getJob, getQuota } from '../src/db/index.js';
import type { FakeUser, RawOption, StoredMessage } from './discord/server.js';
import { DEMO_MODEL, startHarness, type Harness } from './discord/harness.js';

const INTERACTIONS = 1000;
const PARALLEL = 10;
const QUOTA = 40;
const SEED = Number(process.env.FUZZ_SEED ?? 20251125);

let h: Harness;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  h = await startHarness({ label: 'fuzz', config: { DEFAULT_QUOTA: QUOTA, MAX_JOBS_PER_USER: 100, BANNED_WORDS: ['forbidden'] } });
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await h?.close();
});

/** mulberry32: a small seeded generator, so a failing case can be replayed with FUZZ_SEED. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = generator(SEED);
const pick = <T extends NonNullable<unknown> | null>(items: readonly T[]): T => at(items, Math.floor(random() * items.length));
const chance = (p: number) => random() < p;

const PIECES = [
  'a',
  'cat',
  ' ',
  '  ',
  'é',
  'e\u0301',
  'ß',
  'İ',
  '日本',
  '🦊',
  '👩‍🚀',
  '\u200b',
  '\u202e',
  '\u0000',
  '\n',
  '\t',
  '<@123456789012345678>',
  '@everyone',
  '`',
  '**',
  '||',
  'forbidden',
  'FORBÍDDEN',
  '\\',
  '"',
  "'",
  '%s',
  '${x}',
  'ﷺ',
  '\ud800',
];

function randomText(): string {
  const length = pick([0, 1, 2, 5, 20, 100, 999, 1000, 1001, 1500, 4000]);
  let out = '';
  while (out.length < length) out += pick(PIECES);
  return out.slice(0, length);
}

function randomNumber(): number {
  return pick([
    0,
    1,
    -1,
    2,
    3,
    4,
    5,
    7.5,
    20,
    150,
    151,
    -0.5,
    1e3,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 53,
    -(2 ** 53),
    1e308,
    Number.EPSILON,
    0.1 + 0.2,
  ]);
}

function randomValue(kind: 'string' | 'integer' | 'number'): unknown {
  if (chance(0.15)) return pick([null, true, false, [], {}, 'many', '12', '', -7, 3.5]);
  if (kind === 'string') return randomText();
  const n = randomNumber();
  return kind === 'integer' && chance(0.7) ? Math.trunc(n) : n;
}

const IMAGINE_OPTIONS: Array<[string, 'string' | 'integer' | 'number', number]> = [
  ['negative', 'string', 3],
  ['seed', 'integer', 4],
  ['steps', 'integer', 4],
  ['guidance', 'number', 10],
  ['sampler', 'string', 3],
  ['aspect', 'string', 3],
  ['count', 'integer', 4],
  ['model', 'string', 3],
];

function imagineOptions(): RawOption[] {
  const options: RawOption[] = [];
  if (chance(0.95)) options.push({ name: 'prompt', type: 3, value: chance(0.5) ? randomText() : 'a small red square' });
  for (const [name, kind, type] of IMAGINE_OPTIONS) {
    if (!chance(0.35)) continue;
    const valid = chance(0.4);
    let value = randomValue(kind);
    if (valid && name === 'sampler') value = pick([...DEMO_MODEL.samplers, 'Euler']);
    if (valid && name === 'aspect') value = pick(['1:1', '4:3', '3:4', '16:9', '9:16']);
    if (valid && name === 'model') value = pick(['shapes-demo', 'SHAPES-DEMO', 'sd15']);
    if (valid && name === 'count') value = pick([1, 2, 3, 4]);
    options.push({ name, type: chance(0.9) ? type : pick([3, 4, 5, 10]), value });
  }
  if (chance(0.03)) options.push({ name: randomText().slice(0, 40) || 'x', type: 3, value: 'extra' });
  return options;
}

function otherCommand(): { name: string; options: RawOption[] } {
  switch (pick(['rerun', 'show', 'quota', 'history', 'quota-admin'] as const)) {
    case 'rerun':
      return {
        name: 'rerun',
        options: [
          { name: 'job', type: 3, value: randomValue('string') },
          ...(chance(0.5) ? [{ name: 'image', type: 4, value: randomValue('integer') }] : []),
        ],
      };
    case 'show':
      return { name: 'show', options: [{ name: 'job', type: 3, value: chance(0.3) ? 'abcdefghjkmn' : randomValue('string') }] };
    case 'quota':
      return { name: 'quota', options: [] };
    case 'history':
      return { name: 'history', options: [] };
    case 'quota-admin':
      return {
        name: 'quota-admin',
        options: [
          {
            name: 'grant',
            type: 1,
            options: [
              { name: 'user', type: 6, value: randomValue('string') },
              { name: 'amount', type: 4, value: randomValue('integer') },
            ],
          },
        ],
      };
  }
}

/** An independent oracle for the banned-word check: the folded words of a text. */
function words(text: string): string[] {
  const folded = text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
  return folded.replace(/[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}]/gu, ' ').split(/[^\p{L}\p{N}]+/u);
}

interface Outcome {
  message: StoredMessage;
  acknowledgedMs: number;
}

async function send(user: FakeUser, name: string, options: RawOption[]): Promise<Outcome> {
  const handle = await h.discord.sendCommand({ name, user, options, guildId: chance(0.1) ? null : undefined });
  const callback = await handle.response(5000);
  expect(callback.response?.status, `callback status for ${JSON.stringify(options).slice(0, 300)}`).toBeLessThan(300);
  if (callback.json.type === 5) {
    // Deferred: the answer is the edited placeholder or the follow-up that replaces it.
    await h.discord.messages.waitFor((m) => m.interactionToken === handle.token && !m.deleted && (m.flags & 128) === 0);
  }
  const followUps = handle.followUps();
  const message = followUps.at(-1) ?? handle.original();
  if (message === undefined) throw new Error('the command got no answer message');
  return { message, acknowledgedMs: callback.receivedAt - handle.sentAt };
}

it(`${INTERACTIONS} random commands each end in a clear message or a valid job (seed ${SEED})`, async () => {
  const users = Array.from({ length: 10 }, (_, i) => h.discord.user(`fuzzer${i}`));
  let jobs = 0;
  let refusals = 0;
  const internal: string[] = [];
  for (let start = 0; start < INTERACTIONS; start += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, INTERACTIONS - start) }, () => {
      const user = pick(users);
      const { name, options } = chance(0.75) ? { name: 'imagine', options: imagineOptions() } : otherCommand();
      return send(user, name, options).then((outcome) => ({ ...outcome, name, options }));
    });
    for (const { message, acknowledgedMs, name, options } of await Promise.all(batch)) {
      expect(acknowledgedMs).toBeLessThan(3000);
      const described = `${name} ${JSON.stringify(options).slice(0, 400)} -> ${message.content.slice(0, 200)}`;
      if (/Something went wrong on our side/.test(message.content)) {
        internal.push(described);
        continue;
      }
      const jobButton = message.components[0]?.components[0]?.custom_id as string | undefined;
      if (name === 'imagine' && jobButton?.startsWith('img:c:')) {
        jobs++;
        const job = (await getJob(h.pg.db, jobButton.slice('img:c:'.length)))!;
        expect(job.prompt.length, described).toBeGreaterThan(0);
        expect(job.prompt.length, described).toBeLessThanOrEqual(1000);
        expect(job.prompt.trim(), described).toBe(job.prompt);
        expect(job.count, described).toBeGreaterThanOrEqual(1);
        expect(job.count, described).toBeLessThanOrEqual(4);
        expect(job.steps, described).toBeLessThanOrEqual(150);
        expect((job.width % 64) + (job.height % 64), described).toBe(0);
        expect(DEMO_MODEL.samplers, described).toContain(job.sampler);
        expect(words(job.prompt), described).not.toContain('forbidden');
      } else {
        if (name === 'imagine') refusals++;
        expect(message.content.length, described).toBeGreaterThan(0);
      }
    }
  }
  // Errors after the first response arrive as follow-ups: look at every message too.
  for (const m of h.discord.messages.all()) if (/Something went wrong on our side/.test(m.content)) internal.push(m.content);
  expect(internal).toEqual([]);
  expect(unhandled).toEqual([]);
  expect(jobs).toBeGreaterThan(5);
  expect(refusals).toBeGreaterThan(100);
  // The quota is exact: no user was charged beyond the limit.
  for (const user of users) {
    const q = await getQuota(h.pg.db, user.id, { defaultLimit: QUOTA });
    expect(q.used).toBeLessThanOrEqual(QUOTA);
  }
}, 240_000);
