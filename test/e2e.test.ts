// End to end: the real bot (in this process), a real worker process (npm run worker) with
// the demo model, the real Postgres and Redis, and the local Discord server in between.
// /imagine -> acknowledged -> queued -> preview edits -> grid with 9 buttons; a single image
// delivered as its stored PNG (as /show posts it); V2, U1, reroll, /rerun (byte-identical
// PNG), and a button used after a bot restart.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { at } from '../src/checked.js';
import { buildCustomId } from '../src/discord/custom-ids.js';
import { expireStoredData, getJob, getQuota, listImages } from '../src/db/index.js';
import { readPngParameters } from '../src/images/png.js';
import { startHarness, type Harness, type ScriptProcess } from './discord/harness.js';
import { buttonCustomId, buttonLabels, jobIdOf, startDemoWorker, waitForFinalMessage } from './support/e2e.js';
import { MODELS_DIR } from './support/worker-harness.js';
import type { FakeUser, InteractionHandle, StoredMessage } from './discord/server.js';
import { SINGLE_IMAGE_BUTTONS } from './support/labels.js';

const ROOT = join(import.meta.dirname, '..');
const hasModel = existsSync(resolve(ROOT, MODELS_DIR, 'shapes-demo', 'model_index.json'));
const STEPS = 12;

let h: Harness;
let worker: ScriptProcess;
let user: FakeUser;

const finalMessage = (messageId: string) => waitForFinalMessage(h, worker, messageId, 45_000);

async function queuedMessage(handle: InteractionHandle): Promise<StoredMessage> {
  const callback = await handle.response();
  expect(callback.receivedAt - handle.sentAt).toBeLessThan(3000);
  const message = handle.original()!;
  expect(message.content).toMatch(/queued/);
  return message;
}

describe.skipIf(!hasModel)('end to end with a worker and the demo model', () => {
  let grid: StoredMessage;
  let variationJobId: string;

  beforeAll(async () => {
    h = await startHarness({ label: 'e2e', advertiseModel: false });
    user = h.discord.user('e2e');
    worker = await startDemoWorker(h, { PREVIEW_INTERVAL_MS: '200' });
  }, 90_000);

  afterAll(async () => {
    await worker?.stop();
    await h?.close();
  });

  it('/imagine: acknowledged, queued, previews, then the grid with U1-U4, V1-V4, 🔄 and Replay', async () => {
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: { prompt: 'a red circle on a blue background', count: 4, steps: STEPS, seed: 1234 },
    });
    const queued = await queuedMessage(handle);
    grid = await finalMessage(queued.id);
    expect(buttonLabels(grid)).toEqual(['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'Replay']);
    expect(grid.attachments).toHaveLength(1);
    expect(at(grid.attachments, 0).width).toBeGreaterThanOrEqual(256);
    expect(grid.content).toContain('seeds 1234, 1235, 1236, 1237');
    const previews = grid.edits.filter((e) => /step \d+\/\d+/.test(e.json?.content ?? '') && e.files.length > 0);
    expect(previews.length).toBeGreaterThanOrEqual(1);
    const job = (await getJob(h.pg.db, jobIdOf(grid)))!;
    expect(job.status).toBe('succeeded');
    expect(await listImages(h.pg.db, job.id)).toHaveLength(4);
  });

  it('/imagine count:1 delivers the stored PNG with its parameters, the same bytes /show posts later', async () => {
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: { prompt: 'a yellow square on a black background', count: 1, steps: 6, seed: 77 },
    });
    const single = await finalMessage((await queuedMessage(handle)).id);
    expect(single.attachments).toHaveLength(1);
    const delivered = at(single.attachments, 0).data;
    const stored = at(await listImages(h.pg.db, jobIdOf(single)), 0);
    expect(delivered.equals(stored.png!)).toBe(true);
    expect(readPngParameters(delivered)).toMatch(
      /^a yellow square on a black background\nSteps: 6, Sampler: Euler, CFG scale: 7, Seed: 77, /,
    );
    const show = await h.discord.sendCommand({ name: 'show', user, options: { job: jobIdOf(single) } });
    await show.response();
    await vi.waitFor(() => expect(show.original()?.attachments).toHaveLength(1));
    expect(at(show.original()!.attachments, 0).data.equals(delivered)).toBe(true);
  });

  it('V2 queues a variation whose parent is the first job, and it completes', async () => {
    const click = await h.discord.clickButton({ message: grid, customId: buttonCustomId(grid, 'V2'), user });
    const queued = await queuedMessage(click);
    const result = await finalMessage(queued.id);
    const variation = (await getJob(h.pg.db, jobIdOf(result)))!;
    variationJobId = variation.id;
    expect(variation).toMatchObject({ kind: 'variation', parentJobId: jobIdOf(grid), parentIndex: 1, status: 'succeeded', count: 4 });
  });

  it('U1 posts the first image alone', async () => {
    const click = await h.discord.clickButton({ message: grid, customId: buttonCustomId(grid, 'U1'), user });
    await click.response();
    const single = click.original()!;
    expect(buttonLabels(single)).toEqual([...SINGLE_IMAGE_BUTTONS]);
    const original = at(await listImages(h.pg.db, jobIdOf(grid)), 0);
    expect(at(single.attachments, 0).data.equals(original.png!)).toBe(true);
  });

  it('🔄 reruns the request with a new seed', async () => {
    const click = await h.discord.clickButton({ message: grid, customId: buttonCustomId(grid, '🔄'), user });
    const result = await finalMessage((await queuedMessage(click)).id);
    const reroll = (await getJob(h.pg.db, jobIdOf(result)))!;
    expect(reroll.status).toBe('succeeded');
    expect(reroll.seed).not.toBe(1234);
  });

  it('/rerun image 3 gives PNG bytes identical to the original image 3', async () => {
    const handle = await h.discord.sendCommand({ name: 'rerun', user, options: { job: jobIdOf(grid), image: 3 } });
    const result = await finalMessage((await queuedMessage(handle)).id);
    const rerun = at(await listImages(h.pg.db, jobIdOf(result)), 0);
    const original = at(await listImages(h.pg.db, jobIdOf(grid)), 2);
    expect(rerun.seed).toBe(1236);
    expect(rerun.sha256).toBe(original.sha256);
    expect(rerun.png!.equals(original.png!)).toBe(true);
  });

  it('buttons of a job from before a bot restart keep working', async () => {
    await h.restartBot();
    const click = await h.discord.clickButton({
      message: h.discord.messages.get(grid.id)!,
      customId: buildCustomId({ action: 'variation', jobId: jobIdOf(grid), index: 3, strength: 'strong' }),
      user,
    });
    const result = await finalMessage((await queuedMessage(click)).id);
    expect((await getJob(h.pg.db, jobIdOf(result)))!.status).toBe('succeeded');
  });

  it('retention: expired bytes are gone and storage shrinks; /show and U1 regenerate byte-identical PNGs', async () => {
    const stored = async () => {
      const [row] = await h.pg.sql<{ bytes: number }[]>`select coalesce(sum(octet_length(png)), 0)::float8 as bytes from images`;
      if (row === undefined) throw new Error('sum(octet_length(png)) returned no row');
      return row.bytes;
    };
    const before = await listImages(h.pg.db, jobIdOf(grid));
    const bytesBefore = await stored();
    // RETENTION_DAYS=1, two days later: the worker's daily run does exactly this.
    const freed = await expireStoredData(h.pg.db, { retentionDays: 1, now: new Date(Date.now() + 2 * 86_400_000) });
    expect(freed.images).toBeGreaterThanOrEqual(4);
    expect(freed.imageBytes).toBeGreaterThan(0);
    expect(await stored()).toBeLessThan(bytesBefore);
    expect((await listImages(h.pg.db, jobIdOf(grid))).every((i) => i.png === null)).toBe(true);

    const show = await h.discord.sendCommand({ name: 'show', user, options: { job: jobIdOf(grid) } });
    const restored = await finalMessage((await queuedMessage(show)).id);
    // The replay expired with the images, so no Replay button.
    expect(buttonLabels(restored)).toEqual(['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄']);
    expect(freed.replays).toBeGreaterThanOrEqual(1);
    const after = await listImages(h.pg.db, jobIdOf(grid));
    expect(after.map((i) => i.png?.equals(at(before, i.index).png!))).toEqual([true, true, true, true]);

    await expireStoredData(h.pg.db, { retentionDays: 1, now: new Date(Date.now() + 2 * 86_400_000) });
    const u1 = await h.discord.clickButton({ message: h.discord.messages.get(grid.id)!, customId: buttonCustomId(grid, 'U1'), user });
    const single = await finalMessage((await queuedMessage(u1)).id);
    expect(at(single.attachments, 0).data.equals(at(before, 0).png!)).toBe(true);
  });

  it('a job that fails on the worker is refunded', async () => {
    // The variation's source image disappears, so rerunning the variation cannot start.
    await h.pg.sql`delete from images where job_id = ${jobIdOf(grid)} and index = 1`;
    const quota = () => getQuota(h.pg.db, user.id, { defaultLimit: h.context.config.DEFAULT_QUOTA });
    const before = (await quota()).used;
    const handle = await h.discord.sendCommand({ name: 'rerun', user, options: { job: variationJobId } });
    const queued = await queuedMessage(handle);
    expect((await quota()).used).toBe(before + 4);
    const result = await finalMessage(queued.id);
    expect(result.content).toMatch(/failed: .*no longer exists[\s\S]*Your quota was refunded/);
    expect((await getJob(h.pg.db, jobIdOf(result)))!.status).toBe('failed');
    expect((await quota()).used).toBe(before);
  });
});
