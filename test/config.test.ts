import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { ConfigError, envSchema, loadConfig } from '../src/config.js';

const COMPOSE_ONLY_MARKER = '# === Docker Compose only';
const exampleParts = readFileSync(new URL('../.env.example', import.meta.url), 'utf8').split(COMPOSE_ONLY_MARKER);
const [exampleText, composeOnlyText] = [at(exampleParts, 0), at(exampleParts, 1)];
const composeText = readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8');

/** `NAME=value` lines (comments and blank lines skipped). */
function entries(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, name, value] = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line) ?? [];
    if (name !== undefined && value !== undefined) found.set(name, value);
  }
  return found;
}

/** The application's variables in .env.example (above the Docker Compose section). */
const exampleEntries = () => entries(exampleText);

function configError(env: NodeJS.ProcessEnv, requirements: Parameters<typeof loadConfig>[1] = []): ConfigError {
  try {
    loadConfig(env, requirements);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('.env.example', () => {
  it('lists exactly the variables of the schema', () => {
    expect([...exampleEntries().keys()].sort()).toEqual(Object.keys(envSchema.shape).sort());
  });

  it('documents each variable with a comment right above it', () => {
    const lines = exampleText.split('\n');
    for (const name of Object.keys(envSchema.shape)) {
      const index = lines.findIndex((l) => l.startsWith(`${name}=`));
      expect(lines[index - 1], name).toMatch(/^# \S/);
    }
  });

  it('ends with the variables only docker-compose.yml reads, each used there with the same default', () => {
    const composeOnly = entries(composeOnlyText ?? '');
    expect([...composeOnly.keys()].sort()).toEqual(['IMAGE_TAG', 'POSTGRES_PASSWORD']);
    for (const [name, value] of composeOnly) {
      expect(Object.keys(envSchema.shape)).not.toContain(name);
      expect(composeText).toContain(`\${${name}:-${value}}`);
    }
  });

  it('is the list docs/operations.md documents too', () => {
    const operations = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
    for (const [name, value] of exampleEntries()) {
      expect(operations, name).toContain(`| \`${name}\` | ${value === '' ? '(empty)' : `\`${value}\``} |`);
    }
  });

  it('shows the real default of every variable', () => {
    const defaults = loadConfig({});
    for (const [name, value] of exampleEntries()) {
      expect(loadConfig({ [name]: value })[name as keyof typeof defaults], name).toEqual(defaults[name as keyof typeof defaults]);
    }
  });
});

describe('loadConfig', () => {
  it('fills defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/imagine');
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.DEFAULT_QUOTA).toBe(50);
    expect(config.EXECUTION_PROVIDER).toBe('auto');
    expect(config.ADMIN_USER_IDS).toEqual([]);
    expect(config.DISCORD_TOKEN).toBeUndefined();
    // No WORKER_MODELS: a worker serves the default model.
    expect(config.WORKER_MODELS).toEqual(['shapes-demo']);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DEFAULT_QUOTA: '', DISCORD_TOKEN: '' })).toMatchObject({ DEFAULT_QUOTA: 50, DISCORD_TOKEN: undefined });
  });

  it('parses lists and numbers', () => {
    const config = loadConfig({
      ADMIN_USER_IDS: ' 123456789012345678 ,223456789012345678,',
      BANNED_WORDS: 'foo, bar baz',
      WORKER_MODELS: 'sd-turbo,shapes-demo',
      DEFAULT_QUOTA: '7',
    });
    expect(config.ADMIN_USER_IDS).toEqual(['123456789012345678', '223456789012345678']);
    expect(config.BANNED_WORDS).toEqual(['foo', 'bar baz']);
    expect(config.WORKER_MODELS).toEqual(['sd-turbo', 'shapes-demo']);
    expect(config.DEFAULT_QUOTA).toBe(7);
  });

  it('refuses a MAX_WAIT_MS below NO_WORKER_TIMEOUT_MS', () => {
    expect(loadConfig({}).MAX_WAIT_MS).toBe(3_600_000);
    expect(configError({ NO_WORKER_TIMEOUT_MS: '60000', MAX_WAIT_MS: '30000' }).problems).toEqual([
      'MAX_WAIT_MS=30000: expected at least NO_WORKER_TIMEOUT_MS (60000)',
    ]);
  });

  it('takes SHARD_COUNT as auto or a number of shards', () => {
    expect(loadConfig({}).SHARD_COUNT).toBe('auto');
    expect(loadConfig({ SHARD_COUNT: '4' }).SHARD_COUNT).toBe(4);
    for (const bad of ['0', '2.5', 'many']) {
      expect(configError({ SHARD_COUNT: bad }).problems).toEqual([
        `SHARD_COUNT="${bad}": expected auto or a whole number of shards from 1 to 1024`,
      ]);
    }
  });

  it('reports every problem at once, each with the variable name and what it expects', () => {
    const error = configError({
      REDIS_URL: 'http://localhost:6379',
      DEFAULT_QUOTA: '-1',
      EXECUTION_PROVIDER: 'gpu',
      ADMIN_USER_IDS: '123,abc',
      DISCORD_API_BASE: 'https://discord.com/api/v10',
      WORKER_CONCURRENCY: '1.5',
    });
    expect(error.problems).toEqual([
      'REDIS_URL="http://localhost:6379": expected a URL starting with redis:// or rediss://',
      'DISCORD_API_BASE="https://discord.com/api/v10": expected the API base without the version suffix (like https://discord.com/api)',
      'ADMIN_USER_IDS="123,abc": expected a comma-separated list of Discord ids (snowflakes)',
      'DEFAULT_QUOTA="-1": expected a whole number between 0 and 1000000',
      'EXECUTION_PROVIDER="gpu": expected one of cpu, cuda, auto',
      'WORKER_CONCURRENCY="1.5": expected a whole number between 1 and 16',
    ]);
    expect(error.message.split('\n')[0]).toBe('invalid configuration:');
    expect(error.message).toContain('  - DEFAULT_QUOTA="-1"');
  });

  it('names the variables a requirement needs', () => {
    expect(configError({}, ['discord']).problems).toEqual([
      'DISCORD_TOKEN is required but not set',
      'DISCORD_APPLICATION_ID is required but not set',
    ]);
    expect(loadConfig({ DISCORD_TOKEN: 'x'.repeat(30), DISCORD_APPLICATION_ID: '123456789012345678' }, ['discord']).DISCORD_TOKEN).toBe(
      'x'.repeat(30),
    );
  });

  it('never shows a secret or a password in its message', () => {
    const error = configError({
      DISCORD_TOKEN: 'short-secret',
      DATABASE_URL: 'mysql://admin:hunter22@db:3306/x',
    });
    expect(error.message).not.toContain('short-secret');
    expect(error.message).not.toContain('hunter22');
    expect(error.problems).toContain('DISCORD_TOKEN="(hidden, 12 characters)": expected a bot token from the Discord developer portal');
    expect(error.problems).toContain(
      'DATABASE_URL="mysql://admin:***@db:3306/x": expected a URL starting with postgres:// or postgresql://',
    );
  });
});
