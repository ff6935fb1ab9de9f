// Slash-command options, re-validated on our side. Discord enforces the limits we
// registered, but a stale command definition, a modified client or a redelivered payload
// can send anything: values are read raw from the payload and checked here, each with a
// message that says what the option accepts.
import type { CommandInteractionOption } from 'discord.js';
import { z } from 'zod';
import { UserError } from './errors.js';

/** Option values by name, from the top level or from the invoked subcommand. */
export function optionValues(data: readonly CommandInteractionOption[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const option of data) {
    if (option.options !== undefined && option.value === undefined) Object.assign(values, optionValues(option.options));
    else values[option.name] = option.value;
  }
  return values;
}

/** The invoked subcommand's name, or null. */
export function subcommandName(data: readonly CommandInteractionOption[]): string | null {
  const sub = data.find((o) => o.type === 1);
  return sub ? sub.name : null;
}

const required = (name: string, what: string) => (issue: { input: unknown }) =>
  issue.input === undefined ? `\`${name}\` is required.` : `\`${name}\` must be ${what}.`;

// Control characters (other than tab and newline) and unpaired surrogates: Postgres
// refuses NUL in text, and none of them belongs in a prompt.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Text of `min`..`max` characters after trimming, without control characters. */
export function text(name: string, min: number, max: number) {
  const what = min > 0 ? `text of ${min} to ${max} characters` : `text of at most ${max} characters`;
  return z
    .string({ error: required(name, what) })
    .trim()
    .min(min, min === 1 ? `\`${name}\` must not be empty.` : `\`${name}\` must be ${what}.`)
    .max(max, `\`${name}\` is too long: at most ${max} characters.`)
    .refine((s) => !CONTROL.test(s) && !LONE_SURROGATE.test(s), `\`${name}\` contains characters that are not allowed (control characters).`);
}

/** A whole number in [min, max]. */
export function whole(name: string, min: number, max: number) {
  const what = `a whole number from ${min} to ${max}`;
  return z
    .number({ error: required(name, what) })
    .int(`\`${name}\` must be ${what}.`)
    .min(min, `\`${name}\` must be ${what}.`)
    .max(max, `\`${name}\` must be ${what}.`);
}

/** A finite number in [min, max]. */
export function decimal(name: string, min: number, max: number) {
  const what = `a number from ${min} to ${max}`;
  return z
    .number({ error: required(name, what) })
    .min(min, `\`${name}\` must be ${what}.`)
    .max(max, `\`${name}\` must be ${what}.`);
}

/** One of a fixed list of strings. */
export function oneOf<const T extends readonly [string, ...string[]]>(name: string, values: T) {
  return z.enum(values, { error: required(name, `one of ${values.join(', ')}`) });
}

/** A Discord id (snowflake), as user and channel options carry them. */
export function snowflakeId(name: string, what: 'a user' | 'a channel' = 'a user') {
  return z.string({ error: required(name, what) }).regex(/^\d{15,21}$/, `\`${name}\` must be ${what}.`);
}

/** Parses option values with the schema; throws UserError with the first problem. */
export function parseOptions<S extends z.ZodType>(schema: S, values: Record<string, unknown>): z.infer<S> {
  const parsed = schema.safeParse(values);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    throw new UserError(`Unknown option${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.map((k) => `\`${k.slice(0, 32)}\``).join(', ')}.`);
  }
  throw new UserError(issue.message);
}
