// The job contract's limits agree everywhere a job field is checked: the bounds /imagine
// registers with Discord, the contract validation the bot (and the CLI) runs, the
// database's CHECKs (a real insert into Postgres) and the pipeline (PipelineHost on the
// demo model, which refuses before it runs anything). Every field's boundary values go
// through all four.
import { ApplicationCommandOptionType, type APIApplicationCommandOption } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagine } from '../src/bot/commands/imagine.js';
import {
  InvalidRequestError,
  jobParamsProblems,
  LIMITS,
  MAX_SEED,
  RNG_NAMES,
  SAMPLERS,
  validateGenerationRequest,
  type GenerationRequest,
  type JobParams,
  type ModelInfo,
} from '../src/contract/index.js';
import { createJobWithReservation } from '../src/db/index.js';
import { PipelineHost } from '../src/pipeline/index.js';
import { sampleJobInput, sampleParams, snowflake } from './support/db-fixtures.js';
import { DEMO_MODEL_DIR } from './support/demo-model.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

type Field = keyof Omit<JobParams, 'model' | 'init'> | 'strength';

interface Case {
  field: Field;
  /** The /imagine option carrying the field, when there is one. */
  option?: string;
  valid: unknown[];
  invalid: unknown[];
}

const max = LIMITS.promptChars;
const CASES: Case[] = [
  {
    field: 'prompt',
    option: 'prompt',
    valid: ['x', 'x'.repeat(max), '🦊'.repeat(max)],
    invalid: ['x'.repeat(max + 1), '🦊'.repeat(max + 1)],
  },
  { field: 'negativePrompt', option: 'negative', valid: ['', 'x'.repeat(max)], invalid: ['x'.repeat(max + 1)] },
  { field: 'seed', option: 'seed', valid: [0, MAX_SEED], invalid: [-1, MAX_SEED + 1, 1.5] },
  { field: 'steps', option: 'steps', valid: [LIMITS.steps.min, LIMITS.steps.max], invalid: [0, LIMITS.steps.max + 1, 2.5] },
  { field: 'guidance', option: 'guidance', valid: [0, 7.25, LIMITS.guidance.max], invalid: [-0.01, LIMITS.guidance.max + 0.01] },
  { field: 'count', option: 'count', valid: [1, LIMITS.count.max], invalid: [0, LIMITS.count.max + 1] },
  { field: 'width', valid: [LIMITS.side.min, LIMITS.side.max], invalid: [LIMITS.side.min - 1, LIMITS.side.max + 1] },
  { field: 'height', valid: [LIMITS.side.min, LIMITS.side.max], invalid: [LIMITS.side.min - 1, LIMITS.side.max + 1] },
  { field: 'sampler', valid: [...SAMPLERS], invalid: ['warp_drive'] },
  { field: 'rng', valid: [...RNG_NAMES], invalid: ['mersenne'] },
  { field: 'strength', valid: [0.01, 1], invalid: [0, 1.01] },
];

/** Whether Discord would let the value through the option as /imagine registers it. */
function discordAccepts(optionName: string, value: unknown): boolean {
  const option = (imagine.data.options ?? []).find((o) => o.name === optionName) as
    (APIApplicationCommandOption & Record<string, unknown>) | undefined;
  if (option === undefined) throw new Error(`/imagine has no option ${optionName}`);
  if (typeof value === 'string')
    return value.length >= Number(option.min_length ?? 0) && [...value].length <= Number(option.max_length ?? 6000);
  if (typeof value !== 'number') return false;
  if (option.type === ApplicationCommandOptionType.Integer && !Number.isInteger(value)) return false;
  return value >= Number(option.min_value ?? -Infinity) && value <= Number(option.max_value ?? Infinity);
}

function paramsWith(field: Field, value: unknown): JobParams {
  // The demo model's size, so the pipeline's size rules do not speak first.
  const params = sampleParams({ count: 1, width: 128, height: 128 });
  if (field === 'strength') return { ...params, init: { jobId: 'parentjob001', index: 0, strength: value as number } };
  return { ...params, [field]: value };
}

function requestWith(field: Field, value: unknown): GenerationRequest {
  const { model: _model, init, edit: _edit, ...settings } = paramsWith(field, value);
  return init === null ? settings : { ...settings, init: { image: new Uint8Array([1]), strength: init.strength } };
}

/** Any size the contract allows, so only the field's own limits are tried. */
const ANY_SIZE: ModelInfo = {
  name: 'any-size',
  nativeWidth: 64,
  nativeHeight: 64,
  sizeMultiple: 1,
  fixedSize: null,
  defaultSampler: 'euler',
  samplers: [...SAMPLERS],
  supportsImg2Img: true,
};

let pg: TestDatabase;
let host: PipelineHost;
let parentJobId: string;

beforeAll(async () => {
  pg = await createTestDatabase('contract');
  host = await PipelineHost.start({ modelDir: DEMO_MODEL_DIR, provider: 'cpu' });
  // An existing job for the strength cases' parent reference.
  const parent = await createJobWithReservation(pg.db, sampleJobInput(snowflake(), { cost: 0 }));
  if (!parent.ok) throw new Error('could not create the parent job');
  parentJobId = parent.job.id;
});
afterAll(async () => {
  await host?.close();
  await pg?.drop();
});

async function databaseAccepts(params: JobParams): Promise<boolean> {
  const init = params.init === null ? null : { ...params.init, jobId: parentJobId };
  try {
    const result = await createJobWithReservation(pg.db, sampleJobInput(snowflake(), { params: { ...params, init }, cost: 0 }));
    return result.ok;
  } catch (error) {
    // check_violation, or a fraction sent to an integer column.
    if (['23514', '22P02'].includes((error as { cause?: { code?: string } }).cause?.code ?? '')) return false;
    throw error;
  }
}

describe('the job contract agrees with Discord, the database and the pipeline', () => {
  for (const c of CASES) {
    it(`${c.field}: boundary values are accepted or refused alike everywhere`, async () => {
      for (const [value, expected] of [...c.valid.map((v) => [v, true] as const), ...c.invalid.map((v) => [v, false] as const)]) {
        const label = `${c.field} = ${JSON.stringify(value).slice(0, 40)}`;
        if (c.option !== undefined) expect(discordAccepts(c.option, value), `Discord: ${label}`).toBe(expected);
        const problems = jobParamsProblems(paramsWith(c.field, value));
        expect(problems.length === 0, `contract: ${label} (${problems.join(' ')})`).toBe(expected);
        expect(await databaseAccepts(paramsWith(c.field, value)), `database: ${label}`).toBe(expected);
        const request = requestWith(c.field, value);
        if (expected) {
          expect(() => validateGenerationRequest(request, ANY_SIZE, Number.MAX_SAFE_INTEGER), `pipeline: ${label}`).not.toThrow();
        } else {
          await expect(host.generate(request), `pipeline: ${label}`).rejects.toThrow(InvalidRequestError);
          // The pipeline refuses with the same message the bot shows.
          await expect(host.generate(request)).rejects.toThrow(problems[0]);
        }
      }
    });
  }

  it('has one message per field, naming the option users see', () => {
    expect(jobParamsProblems(paramsWith('steps', 0))).toEqual([`\`steps\` must be a whole number from 1 to ${LIMITS.steps.max}.`]);
    expect(jobParamsProblems(paramsWith('negativePrompt', 'x'.repeat(max + 1)))).toEqual([
      `\`negative\` is too long: at most ${max} characters.`,
    ]);
    expect(jobParamsProblems({ ...paramsWith('count', 9), seed: -1 })).toEqual([
      `\`seed\` must be a whole number from 0 to ${MAX_SEED}.`,
      `\`count\` must be a whole number from 1 to ${LIMITS.count.max}.`,
    ]);
  });
});
