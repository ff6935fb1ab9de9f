// Slash-command options, re-validated on our side. Discord enforces the limits we
// registered, but a stale command definition, a modified client or a redelivered payload
// can send anything: values are read raw from the payload and checked here, each with a
// message that says what the option accepts. Options that are job fields are only typed
// here (`typed`): the job contract validates them when the job is created.
import { ApplicationCommandOptionType } from 'discord-api-types/v10';
import type { CommandInteractionOption } from 'discord.js';
import { z } from 'zod';
import { at } from '../checked.js';
import { textProblem } from '../contract/index.js';
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
  const sub = data.find((o) => o.type === ApplicationCommandOptionType.Subcommand);
  return sub ? sub.name : null;
}

const required = (name: string, what: string) => (issue: { input: unknown }) =>
  issue.input === undefined ? `\`${name}\` is required.` : `\`${name}\` must be ${what}.`;

/** Text of at most `maxChars` characters after trimming (not empty when `required`), by the contract's text rule. */
export function text(name: string, options: { required: boolean; maxChars: number }) {
  return z
    .string({ error: required(name, 'text') })
    .trim()
    .superRefine((value, ctx) => {
      const problem = textProblem(name, value, options);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    });
}

/** Job fields, only typed here; the job contract checks their values. */
export const typed = {
  text: (name: string) => z.string({ error: required(name, 'text') }).trim(),
  number: (name: string) => z.number({ error: required(name, 'a number') }),
};

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
  const issue = at(parsed.error.issues, 0);
  if (issue.code === 'unrecognized_keys') {
    throw new UserError(`Unknown option${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.map((k) => `\`${k.slice(0, 32)}\``).join(', ')}.`);
  }
  throw new UserError(issue.message);
}
