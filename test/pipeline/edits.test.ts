// Edits in the pipeline, on real ONNX Runtime sessions: the demo model (through
// PipelineHost, as the worker runs them), the real-architecture optimum export (dynamic
// sizes: pan, creative upscale), a 9-channel inpainting UNet and ESRGAN-style upscalers
// (test/fixtures/onnx-variants).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, f32At, u8At } from '../../src/checked.js';
import {
  editSize,
  formatParameters,
  InvalidRequestError,
  validateGenerationRequest,
  type GenerationRequest,
  type PipelineEdit,
} from '../../src/contract/index.js';
import { encodePng, type RgbImage } from '../../src/images/png.js';
import { featheredMask, featherWidth, latentMask, regionMask } from '../../src/pipeline/edits.js';
import { denoise, generate } from '../../src/pipeline/generate.js';
import { PipelineHost } from '../../src/pipeline/index.js';
import { loadModel, type LoadedModel, type LoadedUpscaler } from '../../src/pipeline/model.js';
import { resizeLanczos, superResolve, tileStarts } from '../../src/pipeline/upscale.js';
import { DEMO_MODEL_DIR, demoRequest } from '../support/demo-model.js';

const VARIANTS = 'test/fixtures/onnx-variants';
const OPTIMUM = 'test/fixtures/sd15-tiny/sd15-tiny-optimum';

let host: PipelineHost;
let demo: LoadedModel;
let optimum: LoadedModel;
let demoSource: RgbImage;
let demoPng: Buffer;
let optimumPng: Buffer;

/** A request editing `png` as the bot stores it: the size editSize gives, the source's settings, strength 1. */
function editRequest(
  model: LoadedModel['info'],
  source: RgbImage,
  png: Uint8Array,
  edit: PipelineEdit,
  overrides: Partial<GenerationRequest> = {},
): GenerationRequest {
  const size = edit.kind === 'mask' ? source : editSize(edit, source, model, 1024 * 1024);
  return demoRequest({ width: size.width, height: size.height, init: { image: png, strength: 1 }, edit, ...overrides });
}

beforeAll(async () => {
  host = await PipelineHost.start({ modelDir: DEMO_MODEL_DIR, provider: 'cpu' });
  demo = await loadModel(DEMO_MODEL_DIR, { provider: 'cpu' });
  optimum = await loadModel(OPTIMUM, { provider: 'cpu' });
  demoSource = at((await host.generate(demoRequest())).images, 0);
  demoPng = encodePng(demoSource);
  optimumPng = encodePng(at((await generate(optimum, demoRequest({ width: 64, height: 64 }))).images, 0));
});
afterAll(async () => {
  await host?.close();
  await demo?.release();
  await optimum?.release();
});

const pixel = (image: RgbImage, x: number, y: number) =>
  Array.from(image.rgb.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));
const meanAbsDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - u8At(b, i)), 0) / a.length;

/** Every pixel of `image` where `soft` is 0 equals `expected` at (x - dx, y - dy); returns how many were compared. */
function expectKept(image: RgbImage, soft: Float32Array, expected: RgbImage, dx = 0, dy = 0): number {
  let compared = 0;
  const wrong: string[] = [];
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (soft[y * image.width + x] !== 0) continue;
      compared++;
      const [a, b] = [pixel(image, x, y), pixel(expected, x - dx, y - dy)];
      if (a.join() !== b.join() && wrong.length < 5) wrong.push(`(${x},${y}) ${a.join()} != ${b.join()}`);
    }
  }
  expect(wrong).toEqual([]);
  return compared;
}

describe('inpainting (any model: the kept area is re-noised and blended at every step)', () => {
  it('a region edit repaints the cells and keeps every pixel outside the feathered mask', async () => {
    const edit: PipelineEdit = { kind: 'region', cells: ['center', 'bottom'] };
    const out = await host.generate(
      editRequest(demo.info, demoSource, demoPng, edit, { prompt: 'a yellow square on a blue background', seed: 11 }),
    );
    const image = at(out.images, 0);
    const mask = featheredMask(regionMask(['center', 'bottom'], 128, 128), 128, 128);
    expect(expectKept(image, mask.soft, demoSource)).toBeGreaterThan(128 * 128 * 0.4);
    const inside = image.rgb.filter((_, i) => mask.repaint[Math.floor(i / 3)] === 1) as Uint8Array;
    const before = demoSource.rgb.filter((_, i) => mask.repaint[Math.floor(i / 3)] === 1) as Uint8Array;
    expect(meanAbsDiff(inside, before)).toBeGreaterThan(10);
  });

  it("after the last step the latents outside the mask are the start image's, whatever the prompt", async () => {
    const request = editRequest(demo.info, demoSource, demoPng, { kind: 'region', cells: ['top-left', 'left'] });
    const a = await denoise(demo, request);
    const b = await denoise(demo, { ...request, prompt: 'a white triangle on a black background' });
    const mask = latentMask(a.start!.mask!, 128, 128, 8);
    const plane = 16 * 16;
    let kept = 0;
    let changed = 0;
    for (let k = 0; k < a.latents.length; k++) {
      if (mask[k % plane] === 0) {
        kept++;
        expect(a.latents[k]).toBe(b.latents[k]);
      } else if (a.latents[k] !== b.latents[k]) {
        changed++;
      }
    }
    expect(kept).toBeGreaterThan(0);
    expect(changed).toBeGreaterThan(0);
  });

  it('a mask image repaints its white pixels; a black mask or a broken file is refused', async () => {
    const repaint = new Uint8Array(128 * 128 * 3);
    for (let y = 20; y < 70; y++) repaint.fill(255, (y * 128 + 30) * 3, (y * 128 + 90) * 3);
    const maskPng = encodePng({ width: 128, height: 128, rgb: repaint });
    const out = await host.generate(
      editRequest(demo.info, demoSource, demoPng, { kind: 'mask', mask: maskPng }, { prompt: 'a green circle on a blue background' }),
    );
    const binary = new Uint8Array(128 * 128).map((_, p) => (repaint[p * 3] ? 1 : 0));
    expectKept(at(out.images, 0), featheredMask(binary, 128, 128).soft, demoSource);
    const black = encodePng({ width: 128, height: 128, rgb: new Uint8Array(128 * 128 * 3) });
    await expect(host.generate(editRequest(demo.info, demoSource, demoPng, { kind: 'mask', mask: black }))).rejects.toThrow(
      /mask is all black/,
    );
    await expect(
      host.generate(editRequest(demo.info, demoSource, demoPng, { kind: 'mask', mask: new Uint8Array([1, 2, 3]) })),
    ).rejects.toThrow(/mask image is not a readable PNG/);
  });

  it('feathers the mask outward: 1 inside, smooth to 0 within the feather width', () => {
    const feather = featherWidth(96, 96);
    expect(feather).toBe(6);
    const mask = featheredMask(regionMask(['left'], 96, 96), 96, 96);
    // The left third is x < 32: 1 there, falling over x = 32..37, 0 from x = 38 on.
    const row = Array.from({ length: 12 }, (_, i) => f32At(mask.soft, 48 * 96 + 30 + i));
    expect(row.slice(0, 2)).toEqual([1, 1]);
    for (let i = 1; i < 1 + feather; i++) expect(at(row, i + 1)).toBeLessThan(at(row, i));
    expect(row.slice(2 + feather - 1)).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('outpainting (inpainting on a padded canvas)', () => {
  it('zoom out keeps the original, shrunk, at the centre of a canvas of the same size', async () => {
    for (const factor of [2, 1.5] as const) {
      const out = await host.generate(editRequest(demo.info, demoSource, demoPng, { kind: 'zoom', factor }, { seed: 5 }));
      const image = at(out.images, 0);
      const inner = Math.round(128 / factor);
      const corner = Math.floor((128 - inner) / 2);
      const repaint = new Uint8Array(128 * 128).map((_, p) =>
        p % 128 >= corner && p % 128 < corner + inner && p / 128 >= corner && Math.floor(p / 128) < corner + inner ? 0 : 1,
      );
      const compared = expectKept(
        image,
        featheredMask(repaint, 128, 128).soft,
        await resizeLanczos(demoSource, inner, inner),
        corner,
        corner,
      );
      expect(compared).toBeGreaterThan((inner - 16) ** 2);
    }
  });

  it('pan grows the canvas by half on that side and keeps the original pixels', async () => {
    const source = at((await generate(optimum, demoRequest({ width: 64, height: 64 }))).images, 0);
    const right = await generate(optimum, editRequest(optimum.info, source, optimumPng, { kind: 'pan', direction: 'right' }));
    expect([at(right.images, 0).width, at(right.images, 0).height]).toEqual([96, 64]);
    const rightMask = new Uint8Array(96 * 64).map((_, p) => (p % 96 < 64 ? 0 : 1));
    // The feather reaches `feather - 1` columns into the original: the rest of it is exact.
    const feather = featherWidth(96, 64);
    expect(expectKept(at(right.images, 0), featheredMask(rightMask, 96, 64).soft, source)).toBe((64 - feather + 1) * 64);
    const up = await generate(optimum, editRequest(optimum.info, source, optimumPng, { kind: 'pan', direction: 'up' }));
    const upMask = new Uint8Array(64 * 96).map((_, p) => (p >= 32 * 64 ? 0 : 1));
    expect(expectKept(at(up.images, 0), featheredMask(upMask, 64, 96).soft, source, 0, 32)).toBe(64 * (64 - feather + 1));
  });

  it('a pan that editSize scaled down to fit maxPixels scales the original with it', async () => {
    const source = at((await generate(optimum, demoRequest({ width: 64, height: 64 }))).images, 0);
    const edit: PipelineEdit = { kind: 'pan', direction: 'right' };
    const size = editSize(edit, source, optimum.info, 4096);
    expect(size).toEqual({ width: 64, height: 32, scaledDown: true });
    const out = await generate(optimum, demoRequest({ ...size, init: { image: optimumPng, strength: 1 }, edit }), { maxPixels: 4096 });
    const mask = new Uint8Array(64 * 32).map((_, p) => (p % 64 < 32 ? 0 : 1));
    expectKept(at(out.images, 0), featheredMask(mask, 64, 32).soft, await resizeLanczos(source, 32, 32));
  });
});

describe('upscaling', () => {
  it("subtle: the model folder's upscaler/ (scale from config.json), else a configured folder (scale from its output), else Lanczos", async () => {
    const own = await loadModel(`${VARIANTS}/upscaler-2x`, { provider: 'cpu', upscalerDir: `${VARIANTS}/upscaler-4x-no-config` });
    const configured = await loadModel(`${VARIANTS}/timestep-float32-1`, {
      provider: 'cpu',
      upscalerDir: `${VARIANTS}/upscaler-4x-no-config`,
    });
    const plain = await loadModel(`${VARIANTS}/timestep-float32-1`, { provider: 'cpu' });
    try {
      expect(own.info.upscaler).toMatchObject({ scale: 2, file: expect.stringMatching(/upscaler-2x\/upscaler\/model\.onnx$/) });
      expect(configured.info.upscaler).toMatchObject({ scale: 4, file: expect.stringMatching(/upscaler-4x-no-config\/model\.onnx$/) });
      expect(plain.info.upscaler).toBeNull();
      const source = at((await generate(plain, demoRequest({ width: 64, height: 64 }))).images, 0);
      const png = encodePng(source);
      const subtle = async (m: LoadedModel) => {
        const out = await generate(m, editRequest(m.info, source, png, { kind: 'upscale', mode: 'subtle' }));
        expect(out.timings.steps).toBe(0);
        return at(out.images, 0);
      };
      const [a, b, c] = [await subtle(own), await subtle(configured), await subtle(plain)];
      expect([a.width, a.height, b.width, b.height, c.width, c.height]).toEqual([128, 128, 128, 128, 128, 128]);
      expect(Buffer.from(a.rgb).equals(Buffer.from((await superResolve(own.upscaler!, source)).rgb))).toBe(true);
      const four = await superResolve(configured.upscaler!, source);
      expect(four.width).toBe(256);
      expect(Buffer.from(b.rgb).equals(Buffer.from((await resizeLanczos(four, 128, 128)).rgb))).toBe(true);
      expect(Buffer.from(c.rgb).equals(Buffer.from((await resizeLanczos(source, 128, 128)).rgb))).toBe(true);
      expect(meanAbsDiff(a.rgb, c.rgb)).toBeGreaterThan(1);
      await expect(
        generate(plain, editRequest(plain.info, source, png, { kind: 'upscale', mode: 'subtle' }, { count: 2 })),
      ).rejects.toThrow(/makes one image/);
    } finally {
      await Promise.all([own.release(), configured.release(), plain.release()]);
    }
  });

  it('subtle through PipelineHost: the 2x image comes back from the thread', async () => {
    const request = editRequest(demo.info, demoSource, demoPng, { kind: 'upscale', mode: 'subtle' });
    expect([request.width, request.height]).toEqual([256, 256]);
    const out = await host.generate(request);
    expect([at(out.images, 0).width, at(out.images, 0).height, at(out.images, 0).rgb.length]).toEqual([256, 256, 256 * 256 * 3]);
  });

  it('subtle on a model with fixed sizes: the request needs to fit maxPixels only, not the UNet', async () => {
    const fixed = await loadModel(`${VARIANTS}/upscaler-2x`, { provider: 'cpu' });
    try {
      expect(fixed.info.fixedSize).toEqual({ width: 64, height: 64 });
      const source = at((await generate(fixed, demoRequest({ width: 64, height: 64 }))).images, 0);
      const request = editRequest(fixed.info, source, encodePng(source), { kind: 'upscale', mode: 'subtle' });
      expect(() => validateGenerationRequest(request, fixed.info, 1024 * 1024)).not.toThrow();
      expect(() => validateGenerationRequest(request, fixed.info, 100 * 100)).toThrow(
        '`width` x `height` must be at most 10000 pixels, not 128x128.',
      );
      expect(() => validateGenerationRequest({ ...request, edit: { kind: 'upscale', mode: 'creative' } }, fixed.info, 1024 * 1024)).toThrow(
        /only makes 64x64 images/,
      );
    } finally {
      await fixed.release();
    }
  });

  it('creative: 2x, then image-to-image at the doubled size with strength 0.35', async () => {
    const source = at((await generate(optimum, demoRequest({ width: 64, height: 64 }))).images, 0);
    const edit: PipelineEdit = { kind: 'upscale', mode: 'creative' };
    const request = editRequest(optimum.info, source, optimumPng, edit, { init: { image: optimumPng, strength: 0.35 } });
    const out = await generate(optimum, request);
    expect([at(out.images, 0).width, at(out.images, 0).height]).toEqual([128, 128]);
    expect(out.timings.steps).toBe(2); // int(8 x 0.35) steps, as diffusers' img2img
    const lanczos = await resizeLanczos(source, 128, 128);
    expect(meanAbsDiff(at(out.images, 0).rgb, lanczos.rgb)).toBeGreaterThan(0.5);
  });

  describe('super-resolution in tiles: seams are invisible (tiled vs whole within 1/255)', () => {
    const upscalers: [string, string, string | undefined][] = [
      ['fixture 2x (model folder)', `${VARIANTS}/upscaler-2x`, undefined],
      ['fixture 4x (configured folder)', `${VARIANTS}/timestep-float32-1`, `${VARIANTS}/upscaler-4x-no-config`],
    ];
    it.each(upscalers)('%s', async (_, dir, upscalerDir) => {
      const m = await loadModel(dir, { provider: 'cpu', upscalerDir });
      try {
        await expectSeamless(m.upscaler!, demoSource);
      } finally {
        await m.release();
      }
    });
    it.skipIf(!existsSync(`${DEMO_MODEL_DIR}/upscaler/model.onnx`))("the demo model's upscaler", async () => {
      await expectSeamless(demo.upscaler!, demoSource);
    });
  });
});

/** Tiles of 48 px (3 x 3 of them over 128 px) against one run over the whole image; without margin and overlap the seams show. */
async function expectSeamless(upscaler: LoadedUpscaler, image: RgbImage): Promise<void> {
  expect(tileStarts(image.width, 48, 8)).toEqual([0, 40, 80]);
  const whole = await superResolve(upscaler, image, { tile: 1024, overlap: 0, margin: 0 });
  const tiled = await superResolve(upscaler, image, { tile: 48, overlap: 8, margin: 8 });
  const bare = await superResolve(upscaler, image, { tile: 48, overlap: 0, margin: 0 });
  const maxDiff = (a: RgbImage, b: RgbImage) => a.rgb.reduce((m, v, i) => Math.max(m, Math.abs(v - u8At(b.rgb, i))), 0);
  console.log(
    `SR x${upscaler.scale} ${image.width}x${image.height}: tiled vs whole max ${maxDiff(tiled, whole)}/255, mean ${meanAbsDiff(tiled.rgb, whole.rgb).toFixed(4)}; bare tiles max ${maxDiff(bare, whole)}/255`,
  );
  expect(maxDiff(tiled, whole)).toBeLessThanOrEqual(1);
  expect(maxDiff(bare, whole)).toBeGreaterThan(1);
}

describe('a dedicated inpainting export (UNet of 2 x 4 + 1 channels)', () => {
  it('is detected from the export and fed the mask and the masked image', async () => {
    const m = await loadModel(`${VARIANTS}/inpainting-9ch`, { provider: 'cpu' });
    try {
      expect(m.info).toMatchObject({ inpainting: true, latentChannels: 4, sizeMultiple: 8, fixedSize: null });
      const txt = await generate(m, demoRequest({ width: 64, height: 64, steps: 4 }));
      const source = at(txt.images, 0);
      const png = encodePng(source);
      const region = editRequest(m.info, source, png, { kind: 'region', cells: ['right'] }, { steps: 4, seed: 8 });
      const a = await generate(m, region);
      expectKept(at(a.images, 0), featheredMask(regionMask(['right'], 64, 64), 64, 64).soft, source);
      const b = await generate(m, region);
      expect(Buffer.from(at(a.images, 0).rgb).equals(Buffer.from(at(b.images, 0).rgb))).toBe(true);
      const pan = await generate(m, editRequest(m.info, source, png, { kind: 'pan', direction: 'left' }, { steps: 4 }));
      expect([at(pan.images, 0).width, at(pan.images, 0).height]).toEqual([96, 64]);
      expect(meanAbsDiff(at(a.images, 0).rgb, source.rgb)).toBeGreaterThan(0);
    } finally {
      await m.release();
    }
  });
});

describe('sizes and refusals', () => {
  it('an export with fixed spatial axes accepts exactly its size, and says so naming the model', async () => {
    const fixed = await loadModel(`${VARIANTS}/timestep-float32-1`, { provider: 'cpu' });
    try {
      expect(fixed.info.fixedSize).toEqual({ width: 64, height: 64 });
      expect(() => validateGenerationRequest(demoRequest({ width: 64, height: 64 }), fixed.info, 1024 * 1024)).not.toThrow();
      expect(() => validateGenerationRequest(demoRequest({ width: 96, height: 64 }), fixed.info, 1024 * 1024)).toThrow(
        'Model `timestep-float32-1` only makes 64x64 images (its ONNX export has fixed spatial sizes), not 96x64.',
      );
      const source = at((await generate(fixed, demoRequest({ width: 64, height: 64 }))).images, 0);
      await expect(
        generate(
          fixed,
          demoRequest({ width: 96, height: 64, init: { image: encodePng(source), strength: 1 }, edit: { kind: 'pan', direction: 'left' } }),
        ),
      ).rejects.toThrow('Model `timestep-float32-1` only makes 64x64 images, so it cannot pan left.');
    } finally {
      await fixed.release();
    }
  });

  it('refuses an edit whose size is not the one the edit makes from its source', async () => {
    const small = encodePng(await resizeLanczos(demoSource, 64, 64));
    await expect(
      host.generate(demoRequest({ init: { image: small, strength: 1 }, edit: { kind: 'region', cells: ['top'] } })),
    ).rejects.toThrow(new InvalidRequestError('Vary (region): top of a 64x64 image makes 64x64, not 128x128.'));
    await expect(
      host.generate(demoRequest({ init: { image: demoPng, strength: 1 }, edit: { kind: 'upscale', mode: 'subtle' } })),
    ).rejects.toThrow('Upscale (subtle) of a 128x128 image makes 256x256, not 128x128.');
  });

  it('warns that a VAE encoder drawing noise (diffusers legacy script) makes image-started runs irreproducible', async () => {
    const legacy = await loadModel('test/fixtures/sd15-tiny/sd15-tiny-legacy', { provider: 'cpu' });
    await legacy.release();
    expect(legacy.info.warnings.join('\n')).toMatch(/RandomNormalLike/);
    expect(optimum.info.warnings.join('\n')).not.toMatch(/RandomNormalLike/);
  });
});

describe('reruns', () => {
  it('every edit gives identical PNG bytes when rerun', async () => {
    const edits: PipelineEdit[] = [
      { kind: 'region', cells: ['top-right'] },
      { kind: 'zoom', factor: 2 },
      { kind: 'zoom', factor: 1.5 },
      { kind: 'upscale', mode: 'subtle' },
    ];
    const png = (req: GenerationRequest, image: RgbImage & { seed: number }) =>
      encodePng(image, formatParameters(req, image.seed, demo.info));
    for (const edit of edits) {
      const request = editRequest(demo.info, demoSource, demoPng, edit, { count: edit.kind === 'upscale' ? 1 : 2, seed: 21 });
      const [a, b] = [await host.generate(request), await host.generate(request)];
      for (let i = 0; i < request.count; i++)
        expect(png(request, at(a.images, i)).equals(png(request, at(b.images, i))), `${edit.kind}`).toBe(true);
    }
    const source = at((await generate(optimum, demoRequest({ width: 64, height: 64 }))).images, 0);
    for (const edit of [
      { kind: 'pan', direction: 'down' },
      { kind: 'upscale', mode: 'creative' },
    ] as PipelineEdit[]) {
      const request = editRequest(optimum.info, source, optimumPng, edit, {
        init: { image: optimumPng, strength: edit.kind === 'upscale' ? 0.35 : 1 },
      });
      const [a, b] = [await generate(optimum, request), await generate(optimum, request)];
      expect(Buffer.from(at(a.images, 0).rgb).equals(Buffer.from(at(b.images, 0).rgb)), edit.kind).toBe(true);
    }
  });
});
