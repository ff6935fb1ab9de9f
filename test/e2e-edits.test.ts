// End to end, the editing tools and the prompt syntax: the real bot, a real worker process
// with the demo model, Postgres, Redis and the local Discord server. Each editing button from
// a U result makes the right size and passes a check of its own (zoom: the original shrunk at
// the centre; pan: the original pixels kept on their side; region: outside the cells kept,
// inside changed; upscale: twice the size, the original when scaled back), /imagine starts
// from a user's picture, inline parameters and {a, b} choices reach the PNG, remix edits the
// prompt; every button works after a bot and worker restart, and a failed edit is refunded.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { at, u8At } from '../src/checked.js';
import { getJob, getQuota, listImages, listUserJobs, type Job } from '../src/db/index.js';
import { readPngParameters, type RgbImage } from '../src/images/png.js';
import { decodePng } from '../src/images/encode.js';
import { liveModels } from '../src/queue/index.js';
import { startHarness, type Harness, type ScriptProcess } from './discord/harness.js';
import { buttonCustomId, jobIdOf, startDemoWorker, waitForFinalMessage } from './support/e2e.js';
import type { FakeUser, InteractionHandle, StoredMessage } from './discord/server.js';
import { MODELS_DIR } from './support/worker-harness.js';

const ROOT = join(import.meta.dirname, '..');
const hasModel = existsSync(resolve(ROOT, MODELS_DIR, 'shapes-demo', 'model_index.json'));
const STEPS = 8;

let h: Harness;
let worker: ScriptProcess;
let user: FakeUser;

const finalMessage = (messageId: string) => waitForFinalMessage(h, worker, messageId, 90_000);

/** The first public message an interaction made: its reply, or its follow-ups' first for a list. */
async function queued(handle: InteractionHandle): Promise<StoredMessage> {
  await handle.response();
  await vi.waitFor(() => expect(handle.original()?.content ?? '').toMatch(/queued|prompts/), { timeout: 10_000 });
  return handle.original()!;
}

async function resultOf(handle: InteractionHandle): Promise<{ message: StoredMessage; job: Job; images: RgbImage[] }> {
  const message = await finalMessage((await queued(handle)).id);
  const job = (await getJob(h.pg.db, jobIdOf(message)))!;
  expect(job.status, `${job.id}: ${job.error}`).toBe('succeeded');
  const images = await Promise.all((await listImages(h.pg.db, job.id)).map((i) => decodePng(i.png!)));
  return { message, job, images };
}

/** Mean absolute difference per channel (0-255) of a rectangle of `a` against all of `b` (same size). */
function meanDiff(a: RgbImage, rect: { x: number; y: number; width: number; height: number }, b: RgbImage): number {
  let sum = 0;
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      for (let c = 0; c < 3; c++)
        sum += Math.abs(u8At(a.rgb, ((rect.y + y) * a.width + rect.x + x) * 3 + c) - u8At(b.rgb, (y * b.width + x) * 3 + c));
    }
  }
  return sum / (rect.width * rect.height * 3);
}

async function resized(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: new Uint8Array(data) };
}

describe.skipIf(!hasModel)('end to end: editing tools and prompt syntax', () => {
  let single: StoredMessage;
  let source: RgbImage;
  let dynamic = false;

  beforeAll(async () => {
    h = await startHarness({ label: 'e2eedits', advertiseModel: false, config: { MAX_JOBS_PER_USER: 10 } });
    user = h.discord.user('e2e-editor');
    worker = await startDemoWorker(h);
    dynamic = at(await liveModels(h.redis, h.prefix), 0).fixedSize === null;
    // A U result: the single image every edit starts from.
    const grid = await resultOf(
      await h.discord.sendCommand({
        name: 'imagine',
        user,
        options: { prompt: 'a red circle on a blue background', count: 4, steps: STEPS, seed: 4242, guidance: 5 },
      }),
    );
    const click = await h.discord.clickButton({ message: grid.message, customId: buttonCustomId(grid.message, 'U1'), user });
    await click.response();
    single = click.original()!;
    source = at(grid.images, 0);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await h?.close();
  });

  it('Zoom out 2x: a 2x2 grid of the same size with the original shrunk at the centre', async () => {
    const { job, images } = await resultOf(
      await h.discord.clickButton({ message: single, customId: buttonCustomId(single, 'Zoom out 2x'), user }),
    );
    expect(job).toMatchObject({ kind: 'zoom', count: 4, width: source.width, height: source.height });
    const shrunk = await resized(source, source.width / 2, source.height / 2);
    for (const image of images) {
      expect([image.width, image.height]).toEqual([source.width, source.height]);
      // The centre keeps the shrunk original (a thin feathered edge aside).
      const inner = { x: source.width / 4 + 4, y: source.height / 4 + 4, width: source.width / 2 - 8, height: source.height / 2 - 8 };
      const croppedShrunk = await sharp(shrunk.rgb, { raw: { width: shrunk.width, height: shrunk.height, channels: 3 } })
        .extract({ left: 4, top: 4, width: inner.width, height: inner.height })
        .raw()
        .toBuffer();
      expect(meanDiff(image, inner, { width: inner.width, height: inner.height, rgb: new Uint8Array(croppedShrunk) })).toBeLessThan(3);
    }
  });

  it('Vary (region) of the centre cell: pixels outside the mask unchanged, inside changed', async () => {
    const opened = await h.discord.clickButton({ message: single, customId: buttonCustomId(single, 'Vary (region)'), user });
    expect((await opened.response()).json.type).toBe(9);
    const submitted = await h.discord.submitModal({
      opened,
      user,
      values: { cells: ['center'], prompt: 'a yellow circle on a blue background' },
    });
    const { job, images } = await resultOf(submitted);
    expect(job).toMatchObject({ kind: 'region', count: 4, edit: { kind: 'region', cells: ['center'] } });
    const third = source.width / 3;
    for (const image of images) {
      // A band around the centre cell is left out: the mask's feathered edge blends there.
      const top = { x: 0, y: 0, width: source.width, height: Math.floor(third) - 6 };
      const topOfSource = { width: top.width, height: top.height, rgb: source.rgb.subarray(0, top.width * top.height * 3) };
      expect(meanDiff(image, top, topOfSource)).toBeLessThan(1);
      const centre = { x: Math.ceil(third) + 6, y: Math.ceil(third) + 6, width: Math.floor(third) - 12, height: Math.floor(third) - 12 };
      const sourceCentre = await sharp(source.rgb, { raw: { width: source.width, height: source.height, channels: 3 } })
        .extract({ left: centre.x, top: centre.y, width: centre.width, height: centre.height })
        .raw()
        .toBuffer();
      expect(meanDiff(image, centre, { width: centre.width, height: centre.height, rgb: new Uint8Array(sourceCentre) })).toBeGreaterThan(3);
    }
  });

  it('Upscale (subtle): one image at twice the size that is the original when scaled back, charged one image', async () => {
    const before = (await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used;
    const { job, images } = await resultOf(
      await h.discord.clickButton({ message: single, customId: buttonCustomId(single, 'Upscale (subtle)'), user }),
    );
    expect(job).toMatchObject({ kind: 'upscale', count: 1, cost: 1, width: 2 * source.width, height: 2 * source.height });
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(before + 1);
    const back = await resized(at(images, 0), source.width, source.height);
    expect(meanDiff(back, { x: 0, y: 0, width: source.width, height: source.height }, source)).toBeLessThan(6);
  });

  it('Upscale (creative) and the pan arrows, on a model that makes any size', async (context) => {
    if (!dynamic) context.skip();
    const creative = await resultOf(
      await h.discord.clickButton({ message: single, customId: buttonCustomId(single, 'Upscale (creative)'), user }),
    );
    const upscaled = at(creative.images, 0);
    expect([upscaled.width, upscaled.height]).toEqual([2 * source.width, 2 * source.height]);
    const back = await resized(upscaled, source.width, source.height);
    expect(meanDiff(back, { x: 0, y: 0, width: source.width, height: source.height }, source)).toBeLessThan(20);

    const left = await resultOf(await h.discord.clickButton({ message: single, customId: buttonCustomId(single, '⬅️'), user }));
    expect(left.job).toMatchObject({ kind: 'pan', count: 4, width: 1.5 * source.width, height: source.height });
    // The original keeps the right side: the new strip is on the left.
    for (const image of left.images) {
      const kept = { x: image.width - source.width + 6, y: 0, width: source.width - 6, height: source.height };
      const sourceRight = await sharp(source.rgb, { raw: { width: source.width, height: source.height, channels: 3 } })
        .extract({ left: 6, top: 0, width: kept.width, height: kept.height })
        .raw()
        .toBuffer();
      expect(meanDiff(image, kept, { width: kept.width, height: kept.height, rgb: new Uint8Array(sourceRight) })).toBeLessThan(1);
    }
    const up = await resultOf(await h.discord.clickButton({ message: single, customId: buttonCustomId(single, '⬆️'), user }));
    const panned = at(up.images, 0);
    expect([panned.width, panned.height]).toEqual([source.width, 1.5 * source.height]);
  });

  it('/imagine from the user’s own picture runs image-to-image at its aspect ratio', async () => {
    const picture = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 30, g: 80, b: 230 } } })
      .composite([
        {
          input: Buffer.from('<svg width="256" height="256"><circle cx="128" cy="128" r="70" fill="rgb(230,30,30)"/></svg>'),
          top: 0,
          left: 0,
        },
      ])
      .png()
      .toBuffer();
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: { prompt: 'a red circle on a blue background', count: 1, steps: STEPS, image_strength: 0.5 },
      attachments: { image: { filename: 'mine.png', data: picture, contentType: 'image/png' } },
    });
    const { job, images } = await resultOf(handle);
    expect(job).toMatchObject({ strength: 0.5, width: 128, height: 128 });
    expect(job.initInputId).not.toBeNull();
    // Half the denoising keeps the composition: a red centre on a blue border.
    const centre = at(images, 0).rgb.subarray((64 * 128 + 64) * 3, (64 * 128 + 64) * 3 + 3);
    expect(u8At(centre, 0)).toBeGreaterThan(u8At(centre, 2));
  });

  it('inline parameters: --ar, --seed and --no reach the job and the PNG; the prompt loses its flags', async () => {
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: { prompt: 'a red circle on a blue background --ar 16:9 --seed 42 --no green', count: 1, steps: STEPS },
    });
    const message = await finalMessage((await queued(handle)).id);
    const image = at(await listImages(h.pg.db, jobIdOf(message)), 0);
    const parameters = readPngParameters(image.png!)!;
    expect(parameters).toMatch(/^a red circle on a blue background\nNegative prompt: green\n/);
    expect(parameters).toContain('Seed: 42,');
    if (dynamic) expect(image.width).toBeGreaterThan(image.height);
    expect(message.content).toContain('seed 42');
  });

  it('{red, yellow} makes two jobs, each delivered with its own prompt', async () => {
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: { prompt: 'a {red, yellow} circle on a blue background', count: 1, steps: STEPS },
    });
    await queued(handle);
    await vi.waitFor(() => expect(handle.followUps()).toHaveLength(2), { timeout: 10_000 });
    const finals = await Promise.all(handle.followUps().map((m) => finalMessage(m.id)));
    const prompts = await Promise.all(finals.map(async (m) => (await getJob(h.pg.db, jobIdOf(m)))!.prompt));
    expect(prompts.sort()).toEqual(['a red circle on a blue background', 'a yellow circle on a blue background']);
  });

  it('remix: 🔄 opens the prompt; the submitted edit runs', async () => {
    await h.discord.sendCommand({ name: 'prefer', user, subcommand: 'remix', options: { on: true } }).then((x) => x.response());
    try {
      const reroll = await h.discord.clickButton({ message: single, customId: buttonCustomId(single, 'Rerun'), user });
      expect((await reroll.response()).json.type).toBe(9);
      const { job } = await resultOf(
        await h.discord.submitModal({ opened: reroll, user, values: { prompt: 'a white square on a purple background' } }),
      );
      expect(job).toMatchObject({ kind: 'reroll', prompt: 'a white square on a purple background' });
    } finally {
      await h.discord.sendCommand({ name: 'prefer', user, subcommand: 'remix', options: { on: false } }).then((x) => x.response());
    }
  });

  it('every editing button works after a bot and worker restart; a failed edit is refunded', async () => {
    await h.restartBot();
    await worker.stop();
    worker = await startDemoWorker(h);
    const message = h.discord.messages.get(single.id)!;
    const { job } = await resultOf(await h.discord.clickButton({ message, customId: buttonCustomId(message, 'Zoom out 1.5x'), user }));
    expect(job.kind).toBe('zoom');
    // The source image's row disappears: the edit cannot start, so it fails and is refunded.
    await h.pg.sql`delete from images where job_id = ${jobIdOf(single)}`;
    const sourceJob = (await getJob(h.pg.db, jobIdOf(single)))!;
    if (sourceJob.parentJobId === null) throw new Error(`the U result ${sourceJob.id} has no parent job`);
    await h.pg.sql`delete from images where job_id = ${sourceJob.parentJobId}`;
    const before = (await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used;
    const refused = await h.discord.clickButton({ message, customId: buttonCustomId(message, 'Zoom out 2x'), user });
    await refused.response();
    const reply = refused.original()!;
    // Either the bot finds no image to edit at once, or the worker fails the job and refunds it.
    if (/queued/.test(reply.content)) {
      const failed = await finalMessage(reply.id);
      expect(failed.content).toMatch(/failed[\s\S]*Your quota was refunded/);
    }
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(before);
    expect((await listUserJobs(h.pg.db, user.id, 50)).filter((j) => j.status === 'queued' || j.status === 'running')).toEqual([]);
  });
});
