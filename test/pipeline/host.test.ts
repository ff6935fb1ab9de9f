// The pipeline as the worker uses it, on the real demo model through ONNX Runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, u8At } from '../../src/checked.js';
import { formatParameters, InvalidRequestError, type GenerationRequest } from '../../src/contract/index.js';
import { encodePng } from '../../src/images/png.js';
import { GenerationAbortedError, PipelineHost } from '../../src/pipeline/index.js';
import { DEMO_MODEL_DIR } from '../support/demo-model.js';

let host: PipelineHost;

beforeAll(async () => {
  host = await PipelineHost.start({ modelDir: DEMO_MODEL_DIR, provider: 'cpu' });
});
afterAll(async () => {
  await host?.close();
});

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    prompt: 'a yellow square on a purple background',
    negativePrompt: '',
    seed: 1234,
    steps: 8,
    guidance: 5,
    sampler: host.model.defaultSampler,
    width: host.model.nativeWidth,
    height: host.model.nativeHeight,
    count: 1,
    rng: 'numpy',
    ...overrides,
  };
}

describe('PipelineHost on the demo model', () => {
  it('reports the model as its folder describes it', () => {
    expect(host.model.name).toBe('shapes-demo');
    expect([host.model.nativeWidth, host.model.nativeHeight]).toEqual([128, 128]);
    expect(host.model.scalingFactor).toBeCloseTo(0.18215, 6);
    expect(host.model.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(host.provider).toBe('cpu');
  });

  it('gives identical PNG bytes for the same seed, and image i of a batch equals seed + i alone', async () => {
    const req = request({ count: 3 });
    const a = await host.generate(req);
    const b = await host.generate(req);
    const png = (r: typeof a, i: number) => encodePng(at(r.images, i), formatParameters(req, at(r.images, i).seed, host.model));
    expect(a.images.map((i) => i.seed)).toEqual([1234, 1235, 1236]);
    for (let i = 0; i < 3; i++) expect(png(a, i).equals(png(b, i))).toBe(true);
    const alone = await host.generate(request({ seed: 1236, count: 1 }));
    expect(Buffer.from(at(alone.images, 0).rgb).equals(Buffer.from(at(a.images, 2).rgb))).toBe(true);
    expect(Buffer.from(at(a.images, 0).rgb).equals(Buffer.from(at(a.images, 1).rgb))).toBe(false);
  });

  it('runs every sampler and both noise generators', async () => {
    for (const sampler of ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm', 'ddpm', 'unipc'] as const) {
      const out = await host.generate(request({ sampler, steps: 4, rng: sampler === 'euler_a' ? 'torch' : 'numpy' }));
      expect(at(out.images, 0).rgb.length).toBe(128 * 128 * 3);
      expect(out.timings.steps).toBeGreaterThanOrEqual(4);
    }
  });

  it('sends progress with previews and keeps the calling event loop free', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const steps: number[] = [];
    let previews = 0;
    const started = performance.now();
    await host.generate(request({ steps: 20, count: 4 }), {
      onProgress: (p) => {
        steps.push(p.step);
        if (p.preview) previews++;
      },
    });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(previews).toBe(20);
    // A blocked event loop would fire the 5 ms timer only a handful of times.
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
  });

  it('stops at the next step when cancelled', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = host.generate(request({ steps: 40 }), {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.step);
        if (p.step === 3) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(GenerationAbortedError);
    expect(Math.max(...seen)).toBeLessThan(10);
    // The host keeps working after a cancel.
    const next = await host.generate(request({ steps: 2 }));
    expect(next.images).toHaveLength(1);
  });

  it('refuses invalid requests with a message naming the field', async () => {
    await expect(host.generate(request({ steps: 0 }))).rejects.toThrow(InvalidRequestError);
    await expect(host.generate(request({ width: 100 }))).rejects.toThrow(/`shapes-demo`.*100/);
    await expect(host.generate(request({ sampler: 'nope' as never }))).rejects.toThrow('`sampler` must be one of euler, euler_a, ');
    await expect(host.generate(request({ seed: 2 ** 32 }))).rejects.toThrow('`seed` must be a whole number from 0 to 4294967295.');
    // The demo model's config makes PNDM run its Runge-Kutta warm-up, which needs 4 steps.
    await expect(host.generate(request({ sampler: 'pndm', steps: 2 }))).rejects.toThrow(InvalidRequestError);
    await expect(host.generate(request({ init: { image: new Uint8Array([1, 2, 3]), strength: 0.5 } }))).rejects.toThrow(
      /not a readable PNG, JPEG or WebP/,
    );
  });

  it('makes variations from an image (img2img through the VAE encoder)', async () => {
    const base = await host.generate(request({ steps: 10 }));
    const png = encodePng(at(base.images, 0));
    const subtle = await host.generate(request({ seed: 99, steps: 10, init: { image: png, strength: 0.35 } }));
    const strong = await host.generate(request({ seed: 99, steps: 10, init: { image: png, strength: 0.9 } }));
    const diff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - u8At(b, i)), 0) / a.length;
    const d1 = diff(at(subtle.images, 0).rgb, at(base.images, 0).rgb);
    const d2 = diff(at(strong.images, 0).rgb, at(base.images, 0).rgb);
    expect(subtle.timings.steps).toBeLessThan(strong.timings.steps);
    expect(d1).toBeLessThan(d2 + 1);
  });
});
