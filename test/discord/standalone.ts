// The local Discord API server as a process of its own, for a real bot and real workers
// running outside vitest (scripts/docker-smoke.sh points its containers at it):
//   npx tsx test/discord/standalone.ts --port 8765 --token T --application-id ID [--steps N] [--count N] [--timeout-s S]
// It starts the server, waits for a bot to connect, sends /imagine as a user, prints each
// progress edit of the answer and exits 0 once the final grid with its buttons arrives, or 1
// when /imagine is refused or the timeout (default 300 s) passes first. Plain lines on
// stdout, one per event.
import { parseArgs } from 'node:util';
import { startFakeDiscord, type StoredMessage } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    token: { type: 'string' },
    'application-id': { type: 'string' },
    prompt: { type: 'string', default: 'a red circle on a blue background' },
    steps: { type: 'string', default: '20' },
    count: { type: 'string', default: '4' },
    'timeout-s': { type: 'string', default: '300' },
  },
});
if (values.port === undefined) {
  process.stderr.write(
    'usage: standalone.ts --port N [--token T] [--application-id ID] [--prompt P] [--steps N] [--count N] [--timeout-s S]\n',
  );
  process.exit(2);
}

const say = (line: string) => process.stdout.write(`${line}\n`);
/** Button labels of a message (its components are untyped JSON). */
const labels = (m: StoredMessage): string[] =>
  (m.components as Array<{ components?: Array<{ label?: string }> }>).flatMap((row) => (row.components ?? []).map((b) => b.label ?? ''));
const isFinal = (m: StoredMessage) => m.attachments.length > 0 && labels(m).some((label) => label === 'U1' || label === 'Rerun');

const timeoutMs = Number(values['timeout-s']) * 1000;
const deadline = Date.now() + timeoutMs;
const left = () => Math.max(1, deadline - Date.now());
const discord = await startFakeDiscord({ port: Number(values.port), botToken: values.token, applicationId: values['application-id'] });
say(`listening on ${discord.apiBase} (application ${discord.applicationId})`);
try {
  await discord.waitForReady(left());
  say('bot connected');
  const user = discord.user('smoke');
  const handle = await discord.sendCommand({
    name: 'imagine',
    user,
    options: { prompt: values.prompt, steps: Number(values.steps), count: Number(values.count) },
  });
  say(`/imagine sent: "${values.prompt}", ${values.count} images, ${values.steps} steps`);
  await handle.response(left());
  let answer: string | null = null;
  let lastStep = '';
  const final = await discord.messages.waitFor((m) => {
    if (m.interactionToken !== handle.token || m.content === '') return false; // a deferral's placeholder is no answer yet
    if (answer === null) {
      answer = m.content;
      say(`answered: ${answer.replaceAll('\n', ' / ')}`);
    }
    const step = /step \d+\/\d+/.exec(m.content)?.[0];
    if (step !== undefined && step !== lastStep) say(`progress: ${step}`);
    lastStep = step ?? lastStep;
    return isFinal(m) || !/queued/.test(answer);
  }, left());
  const [attachment] = final.attachments;
  if (!isFinal(final) || attachment === undefined) throw new Error('/imagine was refused');
  const buttons = labels(final).join(' ');
  say(`result: ${attachment.filename} ${attachment.width}x${attachment.height}, buttons ${buttons}`);
  say(`job: ${/Job `([^`]+)`/.exec(final.content)?.[1] ?? 'unknown'}`);
} catch (error) {
  say(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await discord.close();
}
