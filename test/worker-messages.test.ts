import { describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { parseCustomId } from '../src/discord/custom-ids.js';
import { renderCancelled, renderFailed, renderProgress, renderQueued, renderResult, type MessageJob } from '../src/discord/messages.js';
import { SINGLE_IMAGE_BUTTONS } from './support/labels.js';

const job: MessageJob = {
  id: 'k3v9x2m1qa',
  userId: '123456789012345678',
  kind: 'imagine',
  prompt: 'a red **circle** @everyone',
  negativePrompt: '',
  model: 'shapes-demo',
  sampler: 'euler',
  steps: 20,
  guidance: 7,
  width: 128,
  height: 128,
  count: 4,
  strength: null,
  edit: null,
  seed: 42,
};
const png = { name: 'grid.png', data: Buffer.from('png') };

function labels(payload: { components: { components: unknown[] }[] }): string[] {
  return payload.components.flatMap((r) => r.components.map((b) => (b as { label: string }).label));
}

describe('message renderers', () => {
  it('queued: position and a Cancel button, pinging nobody', () => {
    const m = renderQueued(job, 3);
    expect(m.content).toContain('Job `k3v9x2m1qa` queued, position 3');
    expect(m.content).toContain('a red \\*\\*circle\\*\\* @everyone');
    expect(labels(m)).toEqual(['Cancel']);
    expect(parseCustomId((at(at(m.components, 0).components, 0) as { custom_id: string }).custom_id)).toEqual({
      action: 'cancel',
      jobId: job.id,
    });
    expect(m.allowedMentions).toEqual({ parse: [] });
  });

  it('progress: step, percentage, relative ETA and the preview file', () => {
    const preview = { name: 'preview.webp', data: Buffer.from('x') };
    const m = renderProgress(job, { step: 5, totalSteps: 20, etaUnixSeconds: 1_800_000_000, preview });
    expect(m.content).toContain('step 5/20 (25%), done <t:1800000000:R>');
    expect(m.files).toEqual([preview]);
    expect(labels(m)).toEqual(['Cancel']);
  });

  it('result with four images: U1-U4, V1-V4 and reroll, all parseable', () => {
    const m = renderResult(job, { file: png, seeds: [42, 43, 44, 45], elapsedMs: 2345 });
    expect(labels(m)).toEqual(['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄']);
    expect(m.content).toContain('Job `k3v9x2m1qa`');
    expect(m.content).toContain('seeds 42, 43, 44, 45 · euler · 20 steps · guidance 7.0 · 128x128');
    expect(m.content).toContain('2.3 s');
    expect(m.files).toEqual([png]);
    expect(m.allowedMentions).toEqual({ parse: [], users: [job.userId] });
    const actions = m.components.flatMap((r) => r.components.map((b) => parseCustomId((b as { custom_id: string }).custom_id)));
    expect(actions[1]).toEqual({ action: 'select', jobId: job.id, index: 1 });
    expect(actions[6]).toEqual({ action: 'variation', jobId: job.id, index: 2, strength: 'strong' });
    expect(actions[8]).toEqual({ action: 'reroll', jobId: job.id });
  });

  it('result with one image: Vary (subtle), Vary (strong), Rerun, and Replay when stored', () => {
    const m = renderResult({ ...job, count: 1 }, { file: png, seeds: [42], replay: true });
    expect(labels(m)).toEqual([...SINGLE_IMAGE_BUTTONS, 'Replay']);
    expect(m.content).toContain('seed 42 ·');
  });

  it('keeps content within 2000 characters for the longest prompts', () => {
    const m = renderResult({ ...job, prompt: '*'.repeat(6000), negativePrompt: 'x'.repeat(6000) }, { file: png, seeds: [1, 2, 3, 4] });
    expect(m.content.length).toBeLessThanOrEqual(2000);
  });

  it('failed and cancelled: reason, refund note, no buttons', () => {
    const failed = renderFailed(job, 'the model could not be loaded', { charged: 4, credited: 4 });
    expect(failed.content).toContain('failed: the model could not be loaded');
    expect(failed.components).toEqual([]);
    const cancelled = renderCancelled(job, { charged: 4, credited: 4 });
    expect(cancelled.content).toContain('cancelled');
    expect(cancelled.components).toEqual([]);
    expect(cancelled.files).toEqual([]);
  });
});
