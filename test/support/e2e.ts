// What the end-to-end files share: a real worker process on the demo model beside the
// harness's bot, and readers of the job messages it leaves on the local Discord server.
import { setPriority } from 'node:os';
import { vi } from 'vitest';
import { liveModels } from '../../src/queue/index.js';
import { discordEnv, spawnScript, type Harness, type ScriptProcess } from '../discord/harness.js';
import type { StoredMessage } from '../discord/server.js';
import { MODELS_DIR } from './worker-harness.js';

/** Starts `npm run worker` on the demo model and resolves once it advertises it. */
export async function startDemoWorker(h: Harness, env: Record<string, string> = {}): Promise<ScriptProcess> {
  const worker = spawnScript('src/worker/main.ts', {
    ...discordEnv(h.discord),
    DATABASE_URL: h.pg.url,
    REDIS_PREFIX: h.prefix,
    MODELS_DIR,
    WORKER_MODELS: 'shapes-demo',
    EXECUTION_PROVIDER: 'cpu',
    PREVIEW_INTERVAL_MS: '1000',
    HEALTH_PORT: '0',
    SHUTDOWN_GRACE_MS: '5000',
    ...env,
  });
  // ONNX Runtime takes every core; at a lower priority it cannot starve the test files that
  // run beside this one (their bots must answer within Discord's 3 seconds).
  if (worker.child.pid !== undefined) setPriority(worker.child.pid, 10);
  await vi.waitFor(
    async () => {
      if (worker.child.exitCode !== null) throw new Error(`worker exited with ${worker.child.exitCode}:\n${tail(worker)}`);
      if ((await liveModels(h.redis, h.prefix)).length === 0) throw new Error('worker not ready yet');
    },
    { timeout: 60_000, interval: 200 },
  );
  return worker;
}

/** The end of a process's output, for failure messages. */
export function tail(process: ScriptProcess): string {
  return process.lines.join('\n').slice(-3000);
}

export function buttonLabels(message: StoredMessage): string[] {
  return message.components.flatMap((row) => row.components.map((c: { label: string }) => c.label));
}

export function buttonCustomId(message: StoredMessage, label: string): string {
  const button = message.components.flatMap((row) => row.components).find((c: { label: string }) => c.label === label);
  if (!button) throw new Error(`no ${label} button on: ${message.content}`);
  return button.custom_id;
}

export function jobIdOf(message: StoredMessage): string {
  const id = /Job `([a-z0-9]+)`/.exec(message.content)?.[1];
  if (id === undefined) throw new Error(`no job id in: ${message.content}`);
  return id;
}

/** The job message once the worker has put the result (or a failure) in it. */
export async function waitForFinalMessage(h: Harness, worker: ScriptProcess, messageId: string, timeoutMs: number): Promise<StoredMessage> {
  const isFinal = (m: StoredMessage) =>
    m.id === messageId && (buttonLabels(m).includes('🔄') || buttonLabels(m).includes('Rerun') || /failed|cancelled/.test(m.content));
  try {
    return await h.discord.messages.waitFor(isFinal, timeoutMs);
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; the message says ${JSON.stringify(h.discord.messages.get(messageId)?.content)}; worker log:\n${tail(worker)}`,
      { cause: error },
    );
  }
}
