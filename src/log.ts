// Structured JSON logs (pino). Secrets never reach a log line: known secret fields are
// redacted by name, and any string that looks like a bot token or an interaction /
// webhook token (they hide in URLs inside library error messages) is masked.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

// Fields whose values are secrets, whatever their depth (compared lower-cased).
const SECRET_KEYS = new Set(['token', 'interactiontoken', 'interaction_token', 'authorization', 'discord_token', 'hf_token', 'password']);

// Discord bot tokens: three base64url parts separated by dots.
const BOT_TOKEN = /[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}/g;
// Interaction / webhook tokens appear as path segments after /webhooks/<id>/ or /interactions/<id>/.
const WEBHOOK_PATH = /(\/(?:webhooks|interactions)\/\d+\/)[A-Za-z0-9_.-]{20,}/g;
// Any long opaque token-looking run (interaction tokens are ~150+ chars of base64url).
const LONG_OPAQUE = /\b[A-Za-z0-9_-]{100,}\b/g;

/** Masks tokens inside free text (error messages, URLs). */
export function maskSecrets(text: string): string {
  return text.replace(WEBHOOK_PATH, '$1[redacted]').replace(BOT_TOKEN, '[redacted]').replace(LONG_OPAQUE, '[redacted]');
}

const MAX_ERROR_TEXT = 2000;

/**
 * Error text fit for a log line: drizzle's "Failed query: ...\nparams: ..." carries every
 * bound value (whole PNGs), so the parameters are dropped and long text is cut.
 */
function errorText(text: string): string {
  let kept = text;
  const params = text.indexOf('\nparams: ');
  if (params >= 0) {
    // In a stack, the frames follow the parameters: keep them.
    const frames = text.indexOf('\n    at ', params);
    kept = `${text.slice(0, params)}\nparams: [omitted]${frames >= 0 ? text.slice(frames) : ''}`;
  }
  return kept.length > MAX_ERROR_TEXT ? `${kept.slice(0, MAX_ERROR_TEXT)}... [${kept.length - MAX_ERROR_TEXT} more characters]` : kept;
}

/** A copy of a log argument with secret fields redacted and tokens masked in every string. */
function maskDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskSecrets(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const cause = value.cause instanceof Error ? { cause: maskDeep(value.cause, depth + 1) } : {};
    return {
      type: value.name,
      message: maskSecrets(errorText(value.message)),
      stack: value.stack ? maskSecrets(errorText(value.stack)) : undefined,
      ...cause,
    };
  }
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.has(k.toLowerCase()) ? '[redacted]' : maskDeep(v, depth + 1);
  return out;
}

/** pino's call shapes, masked; `log.error(err)` and `log.error(err, msg)` keep the error under `err`. */
function maskArguments(args: unknown[]): unknown[] {
  const [first, ...rest] = args;
  if (first instanceof Error) {
    const message = rest.length > 0 ? rest : [first.message];
    return [{ err: maskDeep(first) }, ...message.map((a) => maskDeep(a))];
  }
  return args.map((a) => maskDeep(a));
}

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where lines go; stdout by default. Tests pass a stream to inspect the output. */
  destination?: DestinationStream;
  /** Extra literal secrets (the configured bot token, HF token) to mask wherever they appear. */
  secrets?: string[];
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 8);
  const scrub = (text: string) => {
    let out = maskSecrets(text);
    for (const s of secrets) out = out.split(s).join('[redacted]');
    return out;
  };
  const redactField = () => '[redacted]';
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name,
      // Top-level secret fields of child bindings (log call arguments go through maskArguments).
      serializers: Object.fromEntries([...SECRET_KEYS, 'DISCORD_TOKEN', 'HF_TOKEN', 'interactionToken'].map((k) => [k, redactField])),
      hooks: {
        logMethod(args, method) {
          method.apply(this, maskArguments(args) as Parameters<typeof method>);
        },
        // The last look at every line, child bindings included: tokens and configured secrets.
        streamWrite: scrub,
      },
    },
    options.destination,
  );
}

/** A logger that drops everything: for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
