// Every export variant the loader must adapt to, as small real ONNX files run through
// real ONNX Runtime sessions (test/fixtures/onnx-variants, made by make_variants.py).
import { describe, expect, it } from 'vitest';
import { at } from '../../src/checked.js';
import { ModelLoadError } from '../../src/pipeline/errors.js';
import { generate } from '../../src/pipeline/generate.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/model.js';
import type { GenerationRequest } from '../../src/contract/index.js';
import { encodePng } from '../../src/images/png.js';

const DIR = 'test/fixtures/onnx-variants';

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    prompt: 'a red circle',
    negativePrompt: 'blurry',
    seed: 3,
    steps: 3,
    guidance: 4,
    sampler: 'euler',
    width: 64,
    height: 64,
    count: 2,
    rng: 'numpy',
    ...overrides,
  };
}

async function withModel<T>(name: string, fn: (m: LoadedModel) => T | Promise<T>): Promise<T> {
  const model = await loadModel(`${DIR}/${name}`, { provider: 'cpu' });
  try {
    return await fn(model);
  } finally {
    await model.release();
  }
}

async function runs(model: LoadedModel): Promise<void> {
  const a = await generate(model, request());
  expect(a.images).toHaveLength(2);
  expect(at(a.images, 0).rgb).toHaveLength(64 * 64 * 3);
  const b = await generate(model, request());
  expect(Buffer.from(at(a.images, 1).rgb).equals(Buffer.from(at(b.images, 1).rgb))).toBe(true);
  // Guidance <= 1 skips the unconditional pass (as Turbo models need).
  expect((await generate(model, request({ guidance: 1, count: 1 }))).images).toHaveLength(1);
  if (model.vaeEncoder) {
    const init = encodePng(at(a.images, 0));
    const v = await generate(model, request({ init: { image: init, strength: 0.6 }, steps: 5 }));
    expect(v.timings.steps).toBe(3);
  }
}

describe('model export variants', () => {
  it.each([
    ['timestep-float32-1', 'float32', [1]],
    ['timestep-int64-batch', 'int64', ['B']],
    ['timestep-float32-batch', 'float32', ['B']],
    ['timestep-float32-scalar', 'float32', []],
    ['timestep-float16-batch', 'float16', ['B']],
  ] as const)('%s: timestep %s of shape %j', async (name, type, shape) => {
    await withModel(name, async (model) => {
      expect(model.unetIo.timestep.type).toBe(type);
      expect(model.unetIo.timestep.shape.length).toBe(shape.length);
      if (shape[0] === 1) expect(model.unetIo.timestep.shape[0]).toBe(1);
      await runs(model);
    });
  });

  it('input_ids int64', async () => {
    await withModel('input-ids-int64', async (model) => {
      expect(model.textIo.inputIds.type).toBe('int64');
      await runs(model);
    });
  });

  it('an all-fp16 model', async () => {
    await withModel('fp16', async (model) => {
      expect(model.unetIo.sample.type).toBe('float16');
      expect(model.vaeDecoderIo.input.type).toBe('float16');
      await runs(model);
    });
  });

  it('a VAE encoder returning latent_parameters (mean and log-variance)', async () => {
    await withModel('vae-latent-parameters', async (model) => {
      expect(model.vaeEncoderIo).toMatchObject({ output: 'latent_parameters', kind: 'parameters' });
      await runs(model);
    });
  });

  it.each(['external-data-onnx-data', 'external-data-weights-pb'])('external weights: %s', async (name) => {
    await withModel(name, runs);
  });

  it('takes the pad token from the tokenizer files (SD 2.x pads with "!" = 0, SD 1.x with <|endoftext|>)', async () => {
    const sd2 = await withModel('tokenizer-sd2-pad', (m) => m.tokenizer.encode('a red circle').inputIds);
    const sd1 = await withModel('timestep-float32-1', (m) => m.tokenizer.encode('a red circle').inputIds);
    expect(sd2[76]).toBe(0);
    expect(sd1[76]).toBe(523);
  });

  it('corrects an old scheduler config as diffusers does, with a warning', async () => {
    await withModel('scheduler-old-config', async (model) => {
      expect(model.info.schedulerConfig).toMatchObject({ steps_offset: 1, clip_sample: false });
      expect(model.info.warnings.join('\n')).toMatch(/steps_offset 0; using 1[\s\S]*clip_sample true; using false/);
      await runs(model);
    });
  });

  it('refuses a folder that is not a model, naming what is missing', async () => {
    await expect(loadModel(`${DIR}/broken-missing-unet`, { provider: 'cpu' })).rejects.toThrow(ModelLoadError);
    await expect(loadModel(`${DIR}/broken-missing-unet`, { provider: 'cpu' })).rejects.toThrow(/missing unet\/model\.onnx/);
    await expect(loadModel(`${DIR}/nope`, { provider: 'cpu' })).rejects.toThrow(/does not exist/);
  });

  it('previews through a TAESD decoder when the folder has one (full-size previews)', async () => {
    await withModel('taesd-preview', async (model) => {
      expect(model.info.previewKind).toBe('taesd');
      const sizes: string[] = [];
      await generate(model, request({ count: 1 }), { onStep: (p) => p.preview && sizes.push(`${p.preview.width}x${p.preview.height}`) });
      expect(sizes).toEqual(['64x64', '64x64', '64x64']);
    });
    await withModel('timestep-float32-1', async (model) => {
      expect(model.info.previewKind).toBe('linear');
      const sizes: string[] = [];
      await generate(model, request({ count: 1 }), { onStep: (p) => p.preview && sizes.push(`${p.preview.width}x${p.preview.height}`) });
      expect(sizes).toEqual(['8x8', '8x8', '8x8']);
    });
  });

  it('reads sizes and scaling from the configs', async () => {
    await withModel('timestep-float32-1', (model) => {
      expect(model.info).toMatchObject({ nativeWidth: 64, nativeHeight: 64, vaeScaleFactor: 8, latentChannels: 4, scalingFactor: 0.18215 });
    });
  });
});
