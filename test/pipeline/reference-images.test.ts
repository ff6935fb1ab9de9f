// Our pipeline against diffusers' and optimum's own output on two real-architecture SD 1.x
// exports (tiny, random weights: test/fixtures/sd15-tiny): diffusers' legacy export script
// (no configs: the size multiple comes from the UNet graph) and optimum's. Random weights
// make the images noise-like, so any numeric difference (tokenizer, noise, scheduler,
// guidance, decoding) shows; Euler and DDIM differ by about 1.5e-3 here, so the tolerance
// is far tighter than that.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, f32At } from '../../src/checked.js';
import { validateGenerationRequest, type GenerationRequest } from '../../src/contract/index.js';
import { decodeLatents, denoise } from '../../src/pipeline/generate.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/model.js';
import { readNpyFloat32 } from '../support/npy.js';

const DIR = 'test/fixtures/sd15-tiny';
const TOLERANCE = 1e-5;

interface Case {
  model: string;
  kind: 'np-generator' | 'np-latents' | 'torch-generator';
  scheduler: 'EulerDiscreteScheduler' | 'DDIMScheduler';
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  file: string;
}

const CASES = (JSON.parse(readFileSync(`${DIR}/refs/cases.json`, 'utf8')) as { cases: Case[] }).cases;
const SAMPLER = { EulerDiscreteScheduler: 'euler', DDIMScheduler: 'ddim' } as const;

const models = new Map<string, LoadedModel>();
beforeAll(async () => {
  for (const name of ['sd15-tiny-legacy', 'sd15-tiny-optimum']) models.set(name, await loadModel(`${DIR}/${name}`, { provider: 'cpu' }));
});
afterAll(async () => {
  for (const m of models.values()) await m.release();
});

function request(c: Case, sampler: 'euler' | 'ddim' = SAMPLER[c.scheduler]): GenerationRequest {
  return {
    prompt: c.prompt,
    negativePrompt: '',
    seed: c.seed,
    steps: c.steps,
    guidance: c.guidance,
    sampler,
    width: c.width,
    height: c.height,
    count: 1,
    rng: c.kind === 'torch-generator' ? 'torch' : 'numpy',
  };
}

/** Our image as diffusers' output_type "np" gives it: clip(x / 2 + 0.5, 0, 1), NHWC. */
async function ours(model: LoadedModel, req: GenerationRequest): Promise<Float32Array> {
  const run = await denoise(model, req);
  const pixels = await decodeLatents(model, run.latents, 1, run.latentDims);
  const plane = req.width * req.height;
  const out = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.min(1, Math.max(0, Math.fround(Math.fround(f32At(pixels, c * plane + p) / 2) + 0.5)));
  }
  return out;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - f32At(b, i))), 0);

describe('reference images of diffusers and optimum', () => {
  it('reads the size multiple from each export: unet/config.json (optimum), the UNet graph (legacy script)', () => {
    for (const name of ['sd15-tiny-legacy', 'sd15-tiny-optimum']) {
      expect(models.get(name)!.info).toMatchObject({
        sizeMultiple: 32,
        fixedSize: null,
        vaeScaleFactor: 8,
        latentChannels: 4,
        inpainting: false,
      });
    }
    expect(models.get('sd15-tiny-optimum')!.info).toMatchObject({ nativeWidth: 64, nativeHeight: 64 });
    const legacy = models.get('sd15-tiny-legacy')!.info;
    const sized = (width: number, height: number) => () =>
      validateGenerationRequest({ ...request(at(CASES, 0)), width, height }, legacy, 1024 * 1024);
    expect(sized(96, 64)).not.toThrow();
    expect(sized(64, 160)).not.toThrow();
    expect(sized(80, 64)).toThrow('`width` must be a multiple of 32 for model `sd15-tiny-legacy`, not 80.');
  });

  it.each(CASES.map((c) => [`${c.model} ${c.kind} ${c.scheduler} ${c.width}x${c.height} "${c.prompt}" seed ${c.seed}`, c] as const))(
    '%s',
    async (_, c) => {
      const model = models.get(c.model)!;
      const reference = readNpyFloat32(`${DIR}/${c.file}`);
      expect(reference.shape).toEqual([1, c.height, c.width, 3]);
      const image = await ours(model, request(c));
      const diff = maxDiff(image, reference.data);
      console.log(`${c.file}: max |ours - reference| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(TOLERANCE);
    },
  );

  it('tells Euler from DDIM (the tolerance is tight enough to fail on the wrong sampler)', async () => {
    const c = CASES.find((x) => x.scheduler === 'DDIMScheduler' && x.kind === 'np-generator')!;
    const reference = readNpyFloat32(`${DIR}/${c.file}`);
    const wrong = await ours(models.get(c.model)!, request(c, 'euler'));
    expect(maxDiff(wrong, reference.data)).toBeGreaterThan(10 * TOLERANCE);
  });
});
