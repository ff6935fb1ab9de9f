// The denoising replay: which previews are kept, the animated WebP, and a real worker
// storing it with the result (Replay button) without ever failing a job over it.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, u8At } from '../src/checked.js';
import { getReplay } from '../src/db/index.js';
import type { RgbImage } from '../src/images/png.js';
import { encodeReplay, REPLAY_FRAME_MS, REPLAY_LAST_FRAME_MS, REPLAY_MAX_BYTES } from '../src/images/encode.js';
import { REPLAY_MAX_FRAMES, ReplayFrames } from '../src/worker/replay.js';
import { WorkerHarness, type WorkerProcess } from './support/worker-harness.js';
import { SINGLE_IMAGE_BUTTONS } from './support/labels.js';

/** A frame whose first pixel's red value tells which preview it was. */
function marked(n: number, width = 33, height = 33): RgbImage {
  const rgb = new Uint8Array(width * height * 3).fill(90);
  rgb[0] = n;
  return { width, height, rgb };
}

/** Per-pixel noise: the worst case for the encoder. */
function noise(width: number, height: number, seed: number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < rgb.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    rgb[i] = x & 0xff;
  }
  return { width, height, rgb };
}

describe('ReplayFrames', () => {
  it('keeps every preview while they fit', () => {
    const frames = new ReplayFrames();
    for (let n = 0; n < 10; n++) frames.add(marked(n));
    expect(frames.frames().map((f) => f.rgb[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('thins out evenly as previews arrive, at most 24 frames, always ending with the latest', () => {
    const frames = new ReplayFrames();
    expect(frames.frames()).toEqual([]);
    for (let n = 0; n < 250; n++) {
      frames.add(marked(n));
      const kept = frames.frames().map((f) => u8At(f.rgb, 0));
      expect(kept.length).toBeLessThanOrEqual(REPLAY_MAX_FRAMES);
      expect(kept[0]).toBe(0);
      expect(kept.at(-1)).toBe(n & 0xff);
    }
    const kept = frames.frames().map((f) => u8At(f.rgb, 0));
    // 250 previews: every 16th (0, 16, ..., 240: 16 frames) and the latest (249 & 0xff).
    expect(kept).toEqual([...Array.from({ length: 16 }, (_, i) => i * 16), 249]);
  });

  it('refuses fewer than 2 frames', () => {
    expect(() => new ReplayFrames(1)).toThrow('maxFrames must be a whole number >= 2, got 1');
  });
});

describe('encodeReplay', () => {
  it('makes a looping animated WebP with one page per frame, upscaled to 256 px, holding the last frame', async () => {
    const frames = Array.from({ length: 6 }, (_, n) => marked(n * 40));
    const replay = await encodeReplay(frames);
    expect([replay.frames, replay.width, replay.height]).toEqual([6, 256, 256]);
    const meta = await sharp(replay.webp).metadata();
    expect([meta.format, meta.pages, meta.width, meta.loop]).toEqual(['webp', 6, 256, 0]);
    expect(meta.delay).toEqual([...Array(5).fill(REPLAY_FRAME_MS), REPLAY_LAST_FRAME_MS]);
    // Each page is its own frame (not a slice of one tall image).
    const page = (i: number) => sharp(replay.webp, { page: i }).raw().toBuffer();
    expect(Math.abs(u8At(await page(5), 0) - 200)).toBeLessThan(12);
    expect(Math.abs(u8At(await page(1), 0) - 40)).toBeLessThan(12);
  });

  it('counts frames as the pages shown: a frame identical to the one before only lengthens it', async () => {
    const replay = await encodeReplay([marked(10), marked(10), marked(200), marked(200)]);
    expect(replay.frames).toBe(2);
    const meta = await sharp(replay.webp).metadata();
    expect([meta.pages, meta.delay]).toEqual([2, [2 * REPLAY_FRAME_MS, REPLAY_FRAME_MS + REPLAY_LAST_FRAME_MS]]);
  });

  it('keeps a worst-case replay (24 frames of noise) under its byte limit by dropping every other frame, ending on the last', async () => {
    const frames = Array.from({ length: 24 }, (_, n) => noise(129, 129, n + 1));
    const replay = await encodeReplay(frames);
    expect(replay.webp.length).toBeLessThanOrEqual(REPLAY_MAX_BYTES);
    const small = await encodeReplay(frames, { maxBytes: 200 * 1024 });
    expect(small.webp.length).toBeLessThanOrEqual(200 * 1024);
    expect(small.frames).toBeLessThan(24);
    expect((await sharp(small.webp).metadata()).pages).toBe(small.frames);
    // The last page is the last frame: closer to it than to the frame before (lossy noise is far from exact).
    const lastPage = await sharp(small.webp, { page: small.frames - 1 })
      .raw()
      .toBuffer();
    const distanceTo = async (frame: RgbImage) => {
      const scaled = await sharp(frame.rgb, { raw: { width: 129, height: 129, channels: 3 } })
        .resize({ width: 256, height: 256, kernel: 'nearest' })
        .raw()
        .toBuffer();
      return lastPage.reduce((sum, v, i) => sum + Math.abs(v - u8At(scaled, i)), 0) / lastPage.length;
    };
    expect(await distanceTo(at(frames, 23))).toBeLessThan((await distanceTo(at(frames, 22))) * 0.6);
    await expect(encodeReplay(frames, { maxBytes: 1000 })).rejects.toThrow(/a single replay frame takes \d+ bytes, over the 1000 allowed/);
  });
});

describe('worker replays', () => {
  let h: WorkerHarness;
  let worker: WorkerProcess;

  beforeAll(async () => {
    h = await WorkerHarness.start('worker_replay');
    worker = h.spawnWorker();
    await worker.ready;
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  function finalEdit(token: string) {
    return h.discord.requests
      .filter((r) => r.method === 'PATCH' && r.path.includes(`/${token}/messages/`) && r.response?.status === 200)
      .at(-1)!;
  }

  function buttonLabels(json: { components?: { components: { label: string }[] }[] }): string[] {
    return (json.components ?? []).flatMap((row) => row.components.map((b) => b.label));
  }

  it('stores the replay of a finished job before the result, which carries the Replay button', async () => {
    const user = h.discord.user('rhea');
    const { job } = await h.newJob({ user, params: { steps: 12 } });
    const done = await h.waitForDelivery(job.id);
    expect(done.status).toBe('succeeded');
    expect(buttonLabels(finalEdit(job.interactionToken!).json)).toEqual(['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'Replay']);

    const replay = (await getReplay(h.pg.db, job.id))!;
    expect(replay.frames).toBeGreaterThanOrEqual(2);
    expect(replay.frames).toBeLessThanOrEqual(REPLAY_MAX_FRAMES);
    expect(replay.webp.length).toBeLessThanOrEqual(REPLAY_MAX_BYTES);
    expect(replay.createdAt.getTime()).toBeLessThanOrEqual(done.deliveredAt!.getTime());
    const meta = await sharp(replay.webp).metadata();
    expect([meta.format, meta.pages, meta.width, meta.height, meta.loop]).toEqual(['webp', replay.frames, replay.width, replay.height, 0]);
    expect(Math.max(replay.width, replay.height)).toBe(256);
  });

  it('offers Replay on a single image too', async () => {
    const user = h.discord.user('remy');
    const { job } = await h.newJob({ user, params: { steps: 4, count: 1 } });
    expect((await h.waitForDelivery(job.id)).status).toBe('succeeded');
    expect(buttonLabels(finalEdit(job.interactionToken!).json)).toEqual([...SINGLE_IMAGE_BUTTONS, 'Replay']);
    expect((await getReplay(h.pg.db, job.id))!.frames).toBeGreaterThanOrEqual(2);
  });

  it('still delivers the result, without the Replay button, when the replay cannot be stored', async () => {
    await h.pg.sql`drop table replays`;
    const user = h.discord.user('rory');
    const { job } = await h.newJob({ user, params: { steps: 4 } });
    const done = await h.waitForDelivery(job.id);
    expect([done.status, done.deliveryError]).toEqual(['succeeded', null]);
    expect(buttonLabels(finalEdit(job.interactionToken!).json)).toEqual(['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄']);
    await worker.waitForLine((l) => l.includes('replay not stored') && l.includes(job.id), 5_000);
  });
});
