import { describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { createLogger, maskSecrets, silentLogger, type Logger } from '../src/log.js';

// Crafted secrets of the shapes Discord uses (fake values, built at run time).
const BOT_TOKEN = `${'MTIzNDU2Nzg5MDEyMzQ1Njc4'}.${'GaBcDe'}.${'x'.repeat(20)}${'Yz_-0123456789'}`;
const INTERACTION_TOKEN = `aW50ZXJhY3Rpb246${'A1b2C3d4E5'.repeat(16)}`;
const APP_ID = '123456789012345678';
const WEBHOOK_URL = `https://discord.com/api/v10/webhooks/${APP_ID}/${INTERACTION_TOKEN}/messages/@original`;
const HF_TOKEN = 'hf_QwErTyUiOpAsDfGhJkLz';

/** A logger writing into an array of parsed JSON lines. */
function capture(options: { secrets?: string[]; level?: string } = {}): {
  logger: Logger;
  lines: Record<string, unknown>[];
  raw: string[];
} {
  const raw: string[] = [];
  const logger = createLogger({ ...options, destination: { write: (line: string) => void raw.push(line) } });
  return {
    logger,
    raw,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

describe('maskSecrets', () => {
  it('masks bot tokens, webhook and interaction paths, and long opaque runs', () => {
    expect(maskSecrets(`Authorization: Bot ${BOT_TOKEN}`)).toBe('Authorization: Bot [redacted]');
    expect(maskSecrets(`PATCH ${WEBHOOK_URL} failed`)).toBe(
      `PATCH https://discord.com/api/v10/webhooks/${APP_ID}/[redacted]/messages/@original failed`,
    );
    expect(maskSecrets(`/interactions/${APP_ID}/${INTERACTION_TOKEN}/callback`)).toBe(`/interactions/${APP_ID}/[redacted]/callback`);
    expect(maskSecrets(`token=${INTERACTION_TOKEN}`)).toBe('token=[redacted]');
  });

  it('leaves ordinary text alone: ids, job ids, prompts, URLs', () => {
    const text = `job 0b0e7a52-5b2c-4d43-9a57-0c8e1f7e2d11 for user ${APP_ID}: "a red circle on a blue background" https://discord.com/api/v10/channels/${APP_ID}/messages`;
    expect(maskSecrets(text)).toBe(text);
  });
});

describe('createLogger', () => {
  it('writes one JSON object per line with level, time, msg and the fields given', () => {
    const out = capture();
    out.logger.info({ jobId: 'job-1', step: 3 }, 'step done');
    expect(out.raw).toHaveLength(1);
    expect(at(out.raw, 0).endsWith('\n')).toBe(true);
    expect(at(out.lines, 0)).toMatchObject({ level: 30, msg: 'step done', jobId: 'job-1', step: 3 });
    expect(typeof at(out.lines, 0).time).toBe('number');
  });

  it('respects the level', () => {
    const out = capture({ level: 'warn' });
    out.logger.info('hidden');
    out.logger.warn('shown');
    expect(out.lines.map((l) => l.msg)).toEqual(['shown']);
  });

  it('redacts secret fields by name, at the top level and one level down', () => {
    const out = capture();
    out.logger.info(
      {
        token: 'abc',
        interaction: { token: 'def', id: '1' },
        headers: { authorization: 'Bot xyz' },
        config: { DISCORD_TOKEN: 'ghi', HF_TOKEN: 'jkl' },
      },
      'fields',
    );
    const line = at(out.lines, 0);
    expect(line.token).toBe('[redacted]');
    expect(line.interaction).toEqual({ token: '[redacted]', id: '1' });
    expect(line.headers).toEqual({ authorization: '[redacted]' });
    expect(line.config).toEqual({ DISCORD_TOKEN: '[redacted]', HF_TOKEN: '[redacted]' });
  });

  it('masks tokens inside messages, format arguments and nested strings', () => {
    const out = capture();
    out.logger.info(`login with ${BOT_TOKEN}`);
    out.logger.warn('request to %s failed', WEBHOOK_URL);
    out.logger.info({ request: { url: WEBHOOK_URL, retries: [WEBHOOK_URL] } }, 'retrying');
    const text = out.raw.join('');
    expect(text).not.toContain(BOT_TOKEN);
    expect(text).not.toContain(INTERACTION_TOKEN);
    expect(at(out.lines, 0).msg).toBe('login with [redacted]');
    expect(at(out.lines, 1).msg).toBe(`request to https://discord.com/api/v10/webhooks/${APP_ID}/[redacted]/messages/@original failed`);
  });

  it('masks tokens hidden in library error messages and stacks', () => {
    const out = capture();
    const error = new Error(`Unknown Webhook: PATCH ${WEBHOOK_URL}`);
    out.logger.error({ err: error, jobId: 'job-2' }, 'delivery failed');
    out.logger.error(error);
    const text = out.raw.join('');
    expect(text).not.toContain(INTERACTION_TOKEN);
    expect(at(out.lines, 0)).toMatchObject({ jobId: 'job-2', msg: 'delivery failed' });
    expect((at(out.lines, 0).err as { message: string }).message).toBe(
      `Unknown Webhook: PATCH https://discord.com/api/v10/webhooks/${APP_ID}/[redacted]/messages/@original`,
    );
    expect((at(out.lines, 1).err as { message: string; stack: string }).stack).toContain('[redacted]');
  });

  it('masks the configured literal secrets wherever they appear, child bindings included', () => {
    const out = capture({ secrets: [HF_TOKEN, 'short'] });
    out.logger.info(`GET with Bearer ${HF_TOKEN}`);
    out.logger
      .child({ jobId: 'job-3', token: 'tiny', source: `https://hub.example/?t=${HF_TOKEN}`, hook: WEBHOOK_URL })
      .info({ note: `x${HF_TOKEN}y` }, 'child line');
    const text = out.raw.join('');
    expect(text).not.toContain(HF_TOKEN);
    expect(text).not.toContain(INTERACTION_TOKEN);
    expect(at(out.lines, 1)).toMatchObject({ jobId: 'job-3', token: '[redacted]', note: 'x[redacted]y', msg: 'child line' });
    // Secrets shorter than 8 characters are not masked as literals (they would mangle ordinary words).
    out.logger.info('a short message');
    expect(at(out.lines, 2).msg).toBe('a short message');
  });
});

describe('silentLogger', () => {
  it('is a logger that writes nothing', () => {
    const logger = silentLogger();
    expect(logger.isLevelEnabled('fatal')).toBe(false);
    expect(() => logger.error('nothing')).not.toThrow();
  });
});

describe('error text', () => {
  it("omits a failed query's bound parameters (whole PNGs) and cuts long messages", () => {
    const { logger, raw } = capture();
    const err = new Error(`Failed query: insert into images values ($1)\nparams: ${'\u0089PNG'.repeat(10_000)}`, {
      cause: new Error('disk full'),
    });
    logger.warn({ err }, 'store failed');
    logger.warn({ err: new Error('x'.repeat(10_000)) }, 'long');
    expect(raw[0]).toContain('params: [omitted]');
    expect(raw[0]).toContain('disk full');
    expect(at(raw, 0).length).toBeLessThan(6000);
    expect(raw[1]).toMatch(/\.\.\. \[8000 more characters\]/);
  });
});
