// The Replay button against the local Discord server: the owner gets the stored animated
// WebP as a public reply; others are refused; a job without a replay says so.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { buildCustomId } from '../src/discord/custom-ids.js';
import { renderResult } from '../src/discord/messages.js';
import { completeJob, createJobWithReservation, getJob, storeReplay, type Job } from '../src/db/index.js';
import { encodePng } from '../src/images/png.js';
import { encodeReplay } from '../src/images/encode.js';
import type { FakeUser, StoredMessage } from './discord/server.js';
import { startHarness, type Harness } from './discord/harness.js';
import { sampleJobInput } from './support/db-fixtures.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ label: 'bot_replay' });
});

afterAll(async () => {
  await h?.close();
});

const EPHEMERAL = 64;

/** A finished one-image job and its result message in the channel (with the Replay button). */
async function finishedJob(user: FakeUser): Promise<{ job: Job; message: StoredMessage }> {
  const created = await createJobWithReservation(
    h.pg.db,
    sampleJobInput(user.id, { guildId: h.discord.guild.id, channelId: h.discord.channelId, cost: 0 }),
  );
  if (!created.ok) throw new Error(`could not create a job: ${created.reason}`);
  const rgb = new Uint8Array(64 * 64 * 3).fill(120);
  await completeJob(h.pg.db, created.job.id, [
    { index: 0, seed: created.job.seed, width: 64, height: 64, png: encodePng({ width: 64, height: 64, rgb }) },
  ]);
  const job = (await getJob(h.pg.db, created.job.id))!;
  const payload = renderResult(job, { file: { name: 'x.png', data: Buffer.alloc(0) }, seeds: [job.seed], replay: true });
  const res = await fetch(`${h.discord.apiBase}/v10/channels/${h.discord.channelId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bot ${h.discord.botToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content: payload.content, components: payload.components }),
  });
  return { job, message: h.discord.messages.get(((await res.json()) as { id: string }).id)! };
}

/** Three frames from dark to light at latent size. */
function frames() {
  return [30, 120, 220].map((v) => ({ width: 16, height: 16, rgb: new Uint8Array(16 * 16 * 3).fill(v) }));
}

describe('Replay button', () => {
  it('posts the stored animated WebP publicly, as replay-<job id>.webp, for the job owner', async () => {
    const user = h.discord.user('ria');
    const { job, message } = await finishedJob(user);
    const replay = await encodeReplay(frames());
    await storeReplay(h.pg.db, job.id, replay);
    const click = await h.discord.clickButton({ message, customId: buildCustomId({ action: 'replay', jobId: job.id }), user });
    expect((await click.response()).json.type).toBe(4);
    const reply = click.original()!;
    expect(reply.flags & EPHEMERAL).toBe(0);
    expect(reply.content).toContain(job.id);
    expect(reply.attachments.map((a) => a.filename)).toEqual([`replay-${job.id}.webp`]);
    expect(at(reply.attachments, 0).data.equals(replay.webp)).toBe(true);
    expect((await sharp(at(reply.attachments, 0).data).metadata()).pages).toBe(3);
  });

  it('refuses anyone but the owner, and says so when no replay was recorded', async () => {
    const owner = h.discord.user('oona');
    const { job, message } = await finishedJob(owner);
    const customId = buildCustomId({ action: 'replay', jobId: job.id });

    const none = await h.discord.clickButton({ message, customId, user: owner });
    await none.response();
    expect(none.original()!.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(none.original()!.content).toBe(`No replay was recorded for job \`${job.id}\`.`);

    await storeReplay(h.pg.db, job.id, await encodeReplay(frames()));
    const other = await h.discord.clickButton({ message, customId, user: h.discord.user('otto') });
    await other.response();
    expect(other.original()!.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(other.original()!.content).toContain(`These buttons belong to <@${owner.id}>`);
    expect(other.original()!.attachments).toEqual([]);
  });
});
