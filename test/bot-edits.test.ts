// The editing buttons and /imagine's own picture, through the bot and the local Discord
// server (a heartbeat advertises the demo model with any size; no worker runs): the jobs each
// button makes (kind, size, count, seed, strength, start image, charge), Vary (region)'s
// modal, the picture's checks, restarts, forged and foreign clicks.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { REGION_CELLS } from '../src/contract/index.js';
import { buildCustomId, parseCustomId, type ButtonAction } from '../src/discord/custom-ids.js';
import { renderResult } from '../src/discord/messages.js';
import { completeJob, createJobWithReservation, getInputImage, getJob, getQuota, listUserJobs, type Job } from '../src/db/index.js';
import { encodePng } from '../src/images/png.js';
import type { FakeUser, InteractionHandle, StoredMessage } from './discord/server.js';
import { startHarness, type Harness } from './discord/harness.js';
import { sampleJobInput, sampleParams } from './support/db-fixtures.js';

let h: Harness;
const EPHEMERAL = 64;

beforeAll(async () => {
  h = await startHarness({ label: 'botedits', config: { MAX_JOBS_PER_USER: 10 } });
});
afterAll(async () => {
  await h?.close();
});

async function visibleReply(handle: InteractionHandle): Promise<StoredMessage> {
  const callback = await handle.response();
  for (let waited = 0; waited < 10_000; waited += 20) {
    const original = handle.original();
    if (callback.json.type === 4 && original !== undefined) return original;
    const followUps = handle.followUps();
    if (followUps.length > 0) return at(followUps, followUps.length - 1);
    if (original !== undefined && original.content !== '') return original;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no visible answer within 10 s');
}

/** A finished one-image 128x128 job of `user` and its result message (the single-image buttons). */
async function singleImage(user: FakeUser): Promise<{ job: Job; message: StoredMessage }> {
  const created = await createJobWithReservation(
    h.pg.db,
    sampleJobInput(user.id, {
      guildId: h.discord.guild.id,
      channelId: h.discord.channelId,
      cost: 0,
      params: sampleParams({ prompt: 'a red circle on a blue background', count: 1, width: 128, height: 128, seed: 77 }),
    }),
  );
  if (!created.ok) throw new Error(created.reason);
  await completeJob(h.pg.db, created.job.id, [
    {
      index: 0,
      seed: 77,
      width: 128,
      height: 128,
      png: encodePng({ width: 128, height: 128, rgb: new Uint8Array(128 * 128 * 3).fill(90) }),
    },
  ]);
  const job = (await getJob(h.pg.db, created.job.id))!;
  const payload = renderResult(job, { file: { name: 'x.png', data: Buffer.alloc(0) }, seeds: [77] });
  const res = await fetch(`${h.discord.apiBase}/v10/channels/${h.discord.channelId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bot ${h.discord.botToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content: payload.content, components: payload.components }),
  });
  return { job, message: h.discord.messages.get(((await res.json()) as { id: string }).id)! };
}

const labelOf = (message: StoredMessage, label: string): string => {
  const button = message.components.flatMap((r) => r.components).find((c: { label: string }) => c.label === label);
  if (!button) throw new Error(`no ${label} button`);
  return button.custom_id;
};
const jobIdOf = (message: StoredMessage) => {
  const [, id] = /Job `([a-z0-9]+)`/.exec(message.content) ?? [];
  if (id === undefined) throw new Error(`no job id in ${JSON.stringify(message.content)}`);
  return id;
};

async function click(message: StoredMessage, label: string, user: FakeUser): Promise<Job> {
  const reply = await visibleReply(await h.discord.clickButton({ message, customId: labelOf(message, label), user }));
  expect(reply.content).toMatch(/queued/);
  return (await getJob(h.pg.db, jobIdOf(reply)))!;
}

describe('the single-image buttons', () => {
  it('are the issue’s labels in rows Discord allows, each custom_id parsing back to its action', async () => {
    const { job, message } = await singleImage(h.discord.user('looker'));
    expect(message.components.map((r) => r.components.map((c: { label: string }) => c.label))).toEqual([
      ['Upscale (subtle)', 'Upscale (creative)', 'Vary (subtle)', 'Vary (strong)', 'Vary (region)'],
      ['Zoom out 2x', 'Zoom out 1.5x'],
      ['⬅️', '➡️', '⬆️', '⬇️'],
      ['Rerun'],
    ]);
    const actions = message.components.flatMap((r) => r.components.map((c: { custom_id: string }) => parseCustomId(c.custom_id)));
    expect(actions.every((a) => a !== null && a.jobId === job.id)).toBe(true);
    for (const a of actions) expect(buildCustomId(a as ButtonAction)).toMatch(/^img:/);
  });

  it('Zoom out and the arrows queue a 2x2 grid of new seeds from the image; upscale one image at twice the size with its seed', async () => {
    const user = h.discord.user('editor');
    const { job, message } = await singleImage(user);
    const before = (await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used;
    const zoom = await click(message, 'Zoom out 2x', user);
    expect(zoom).toMatchObject({
      kind: 'zoom',
      parentJobId: job.id,
      parentIndex: 0,
      initJobId: job.id,
      initIndex: 0,
      strength: 1,
      edit: { kind: 'zoom', factor: 2 },
      count: 4,
      cost: 4,
      width: 128,
      height: 128,
      prompt: job.prompt,
    });
    expect(zoom.seed).not.toBe(77);
    expect(await click(message, 'Zoom out 1.5x', user)).toMatchObject({ edit: { kind: 'zoom', factor: 1.5 }, count: 4 });
    expect(await click(message, '⬅️', user)).toMatchObject({
      kind: 'pan',
      edit: { kind: 'pan', direction: 'left' },
      width: 192,
      height: 128,
      count: 4,
    });
    expect(await click(message, '⬇️', user)).toMatchObject({ edit: { kind: 'pan', direction: 'down' }, width: 128, height: 192 });
    expect(await click(message, 'Upscale (subtle)', user)).toMatchObject({
      kind: 'upscale',
      edit: { kind: 'upscale', mode: 'subtle' },
      width: 256,
      height: 256,
      count: 1,
      cost: 1,
      seed: 77,
    });
    expect(await click(message, 'Upscale (creative)', user)).toMatchObject({
      edit: { kind: 'upscale', mode: 'creative' },
      strength: 0.35,
      width: 256,
      height: 256,
      count: 1,
      seed: 77,
    });
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(before + 4 + 4 + 4 + 4 + 1 + 1);
  });

  it('scales a pan that would pass MAX_PIXELS down to fit, and refuses an upscale that cannot grow', async () => {
    const user = h.discord.user('big-canvas');
    const { message } = await singleImage(user);
    h.context.config.MAX_PIXELS = 128 * 160;
    try {
      const pan = await click(message, '➡️', user);
      expect(pan.width * pan.height).toBeLessThanOrEqual(128 * 160);
      expect(pan.width).toBeGreaterThan(pan.height);
      h.context.config.MAX_PIXELS = 128 * 128;
      const refused = await visibleReply(await h.discord.clickButton({ message, customId: labelOf(message, 'Upscale (subtle)'), user }));
      expect([refused.content, refused.flags & EPHEMERAL]).toEqual([
        'This image is 128x128 already: at most 16384 pixels are allowed, so it cannot be upscaled.',
        EPHEMERAL,
      ]);
    } finally {
      h.context.config.MAX_PIXELS = 1024 * 1024;
    }
  });

  it('Vary (region) answers with a modal of the nine cells and the prompt; its submit queues the inpainting of those cells with the edited prompt', async () => {
    const user = h.discord.user('region-painter');
    const { job, message } = await singleImage(user);
    const opened = await h.discord.clickButton({ message, customId: labelOf(message, 'Vary (region)'), user });
    expect((await opened.response()).json.type).toBe(9);
    const modal = h.discord.modalOf(opened)!;
    const select = modal.components[0].component;
    expect(select).toMatchObject({ type: 3, custom_id: 'cells', min_values: 1, max_values: 9 });
    expect(select.options.map((o: { value: string }) => o.value)).toEqual([
      'top-left',
      'top',
      'top-right',
      'left',
      'center',
      'right',
      'bottom-left',
      'bottom',
      'bottom-right',
    ]);
    expect(modal.components[1].component).toMatchObject({
      type: 4,
      custom_id: 'prompt',
      value: `${job.prompt} --no ${job.negativePrompt}`,
    });
    const queued = await visibleReply(
      await h.discord.submitModal({ opened, user, values: { cells: ['center', 'top'], prompt: 'a yellow circle on a blue background' } }),
    );
    const region = (await getJob(h.pg.db, jobIdOf(queued)))!;
    expect(region).toMatchObject({
      kind: 'region',
      edit: { kind: 'region', cells: ['top', 'center'] },
      prompt: 'a yellow circle on a blue background',
      count: 4,
      width: 128,
      height: 128,
      initJobId: job.id,
      strength: 1,
    });
    expect(REGION_CELLS).toHaveLength(9);
  });

  it('keep working after a bot restart; refuse a foreign click and a forged custom_id', async () => {
    const user = h.discord.user('restarter');
    const { job, message } = await singleImage(user);
    await h.restartBot();
    expect((await click(h.discord.messages.get(message.id)!, 'Zoom out 2x', user)).kind).toBe('zoom');
    const foreign = await visibleReply(
      await h.discord.clickButton({ message, customId: labelOf(message, '⬆️'), user: h.discord.user('stranger') }),
    );
    expect(foreign.content).toBe(`These buttons belong to <@${user.id}>.`);
    for (const forged of [`img:z3:${job.id}:0`, `img:pl:${job.id}:7`, `img:uc:${job.id}`, `img:vr:${job.id}:0:1`]) {
      const reply = await visibleReply(await h.discord.clickButton({ message, customId: forged, user, unchecked: true }));
      expect(reply.content).toBe('This button is not one of mine, or it is damaged.');
    }
    expect((await listUserJobs(h.pg.db, user.id, 10)).map((j) => j.kind)).toEqual(['zoom', 'imagine']);
  });
});

describe('/imagine with your own picture', () => {
  const picture = async (width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png') =>
    sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } })
      .toFormat(format)
      .toBuffer();

  async function imagineWith(
    user: FakeUser,
    file: { filename: string; data: Buffer; contentType?: string; declaredSize?: number },
    options: Record<string, unknown> = {},
  ) {
    const handle = await h.discord.sendCommand({
      name: 'imagine',
      user,
      options: { prompt: 'a red circle', count: 1, ...options },
      attachments: { image: file },
    });
    return visibleReply(handle);
  }

  it('starts each job from the stored picture at its aspect ratio, with image_strength or --strength', async () => {
    const user = h.discord.user('photographer');
    const reply = await imagineWith(user, { filename: 'cat.png', data: await picture(300, 150), contentType: 'image/png' });
    expect(reply.content).toMatch(/queued/);
    const job = (await getJob(h.pg.db, jobIdOf(reply)))!;
    expect(job).toMatchObject({ kind: 'imagine', strength: 0.6, initJobId: null });
    expect(job.width).toBeGreaterThan(job.height);
    const stored = (await getInputImage(h.pg.db, job.initInputId!))!;
    expect([stored.width, stored.height, stored.userId]).toEqual([300, 150, user.id]);
    expect((await sharp(stored.png!).metadata()).format).toBe('png');
    const stronger = await imagineWith(
      user,
      { filename: 'x.jpg', data: await picture(100, 200, 'jpeg') },
      { prompt: 'a red circle --strength 0.3', image_strength: 0.3 },
    );
    const j2 = (await getJob(h.pg.db, jobIdOf(stronger)))!;
    expect(j2.strength).toBe(0.3);
    expect(j2.height).toBeGreaterThan(j2.width);
    expect((await imagineWith(user, { filename: 'w.webp', data: await picture(128, 128, 'webp') })).content).toMatch(/queued/);
  });

  it('refuses a file that is not a picture, one too large, and a host that is not Discord’s, ephemerally and without charging', async () => {
    const user = h.discord.user('bad-files');
    const text = await imagineWith(user, { filename: 'cat.png', data: Buffer.from('not really a png at all'), contentType: 'image/png' });
    expect([text.content, text.flags & EPHEMERAL]).toEqual(['Your picture must be a PNG, JPEG or WebP file.', EPHEMERAL]);
    const gif = await imagineWith(user, {
      filename: 'a.png',
      data: await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
        .gif()
        .toBuffer(),
    });
    expect(gif.content).toBe('Your picture must be a PNG, JPEG or WebP file.');
    const truncated = (await picture(64, 64)).subarray(0, 60);
    expect((await imagineWith(user, { filename: 't.png', data: truncated })).content).toMatch(/^Your picture could not be read/);
    h.context.config.MAX_INPUT_BYTES = 2000;
    h.context.config.MAX_INPUT_PIXELS = 256 * 256;
    try {
      const big = await imagineWith(user, {
        filename: 'big.png',
        data: await sharp({
          create: { width: 512, height: 512, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } },
        })
          .png()
          .toBuffer(),
      });
      expect(big.content).toBe('Your picture is too large: at most 0.00 MiB.'.replace('0.00', (2000 / 1024 / 1024).toFixed(2)));
      h.context.config.MAX_INPUT_BYTES = 10 * 1024 * 1024;
      const wide = await imagineWith(user, { filename: 'wide.png', data: await picture(512, 512) });
      expect(wide.content).toBe(`Your picture is too large: at most ${256 * 256} pixels.`);
    } finally {
      h.context.config.MAX_INPUT_BYTES = 10 * 1024 * 1024;
      h.context.config.MAX_INPUT_PIXELS = 4096 * 4096;
    }
    const hosts = h.context.config.ATTACHMENT_HOSTS;
    h.context.config.ATTACHMENT_HOSTS = ['cdn.discordapp.com'];
    try {
      expect((await imagineWith(user, { filename: 'ok.png', data: await picture(64, 64) })).content).toBe(
        'Pictures are taken only from Discord: attach the file to the command.',
      );
    } finally {
      h.context.config.ATTACHMENT_HOSTS = hosts;
    }
    const strengthWithout = await visibleReply(
      await h.discord.sendCommand({ name: 'imagine', user, options: { prompt: 'a circle --strength 0.5' } }),
    );
    expect(strengthWithout.content).toBe('`--strength` and `image_strength` work with a picture to start from (the `image` option).');
    expect(await listUserJobs(h.pg.db, user.id, 10)).toEqual([]);
    expect((await getQuota(h.pg.db, user.id, { defaultLimit: 50 })).used).toBe(0);
  });
});
