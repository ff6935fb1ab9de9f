// What the long-running entry points (bot, worker) do the same way: read the configuration
// or exit 2 with one line on stderr, and stop on SIGINT/SIGTERM, at once on a second one.
import { ConfigError, type ConfigWith, loadConfig, type Requirement } from './config.js';
import type { Logger } from './log.js';

/** Exit code of a process that stopped because its configuration is wrong. */
const CONFIG_ERROR_EXIT_CODE = 2;

/** Prints a ConfigError as one stderr line (`<name>: invalid configuration: a; b`) and exits 2. */
export function exitOnConfigError(name: string, error: ConfigError): never {
  process.stderr.write(`${name}: invalid configuration: ${error.problems.join('; ')}\n`);
  process.exit(CONFIG_ERROR_EXIT_CODE);
}

/** loadConfig for an entry point: a configuration problem ends the process (exitOnConfigError). */
export function loadConfigOrExit<R extends Requirement = never>(
  name: string,
  env: NodeJS.ProcessEnv,
  requirements: readonly R[] = [],
): ConfigWith<R> {
  try {
    return loadConfig(env, requirements);
  } catch (error) {
    if (error instanceof ConfigError) exitOnConfigError(name, error);
    throw error;
  }
}

/** The longest a second signal waits for `beforeForcedExit`. */
const FORCED_EXIT_WAIT_MS = 5000;

export interface ShutdownOptions {
  /** Runs before the exit on a second signal, for at most 5 s: what must not be cut off mid-call. */
  beforeForcedExit?: () => Promise<void>;
}

/**
 * Calls `stop` on the first SIGINT or SIGTERM; `stop` ends the process when it is done. A
 * second signal while it runs exits at once with code 1 (an operator pressing Ctrl-C twice,
 * or a supervisor that stopped waiting). A `stop` that throws is logged and exits 1.
 */
export function onShutdownSignal(logger: Logger, stop: (signal: NodeJS.Signals) => Promise<void>, options: ShutdownOptions = {}): void {
  let stopping = false;
  let forcing = false;
  const handle = (signal: NodeJS.Signals) => {
    if (forcing) process.exit(1);
    if (stopping) {
      forcing = true;
      logger.warn({ signal }, 'second signal while shutting down: exiting now');
      const waited = setTimeout(() => process.exit(1), FORCED_EXIT_WAIT_MS);
      void (options.beforeForcedExit?.() ?? Promise.resolve())
        .catch((err: unknown) => logger.error({ err }, 'could not prepare the exit'))
        .finally(() => {
          clearTimeout(waited);
          process.exit(1);
        });
      return;
    }
    stopping = true;
    stop(signal).catch((err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}
