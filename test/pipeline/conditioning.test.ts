// Text conditioning with A1111 prompt syntax (src/pipeline/conditioning.ts), on real ONNX
// Runtime sessions: the demo model (a UNet fixed at 77 positions) and the sequence-dynamic
// export variant (a UNet taking 77 x n positions).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, f32At } from '../../src/checked.js';
import type { GenerationRequest } from '../../src/contract/index.js';
import { chunkText, CHUNK_POSITIONS, encodeConditioning } from '../../src/pipeline/conditioning.js';
import { InvalidRequestError } from '../../src/pipeline/errors.js';
import { asFloat32 } from '../../src/pipeline/float16.js';
import { encodePng } from '../../src/images/png.js';
import { generate } from '../../src/pipeline/generate.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/model.js';
import { outputNamed } from '../../src/pipeline/onnx/output.js';
import { DEMO_MODEL_DIR, demoRequest } from '../support/demo-model.js';

let demo: LoadedModel;
let dynamic: LoadedModel;
beforeAll(async () => {
  demo = await loadModel(DEMO_MODEL_DIR, { provider: 'cpu' });
  dynamic = await loadModel('test/fixtures/onnx-variants/sequence-dynamic', { provider: 'cpu' });
});
afterAll(async () => {
  await demo.release();
  await dynamic.release();
});

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return demoRequest({ seed: 7, steps: 6, ...overrides });
}

function sha256(images: { rgb: Uint8Array }[]): string {
  const hash = createHash('sha256');
  for (const image of images) hash.update(image.rgb);
  return hash.digest('hex');
}

/** The text encoder's raw output for a plain single encode (what the pipeline did before prompt syntax). */
async function plainStates(model: LoadedModel, text: string): Promise<Float32Array> {
  const { inputIds } = model.tokenizer.encode(text);
  const io = model.textIo.inputIds;
  const out = await model.textEncoder.run({ [io.name]: { type: io.type, data: inputIds, dims: [1, inputIds.length] } }, [
    model.textIo.output,
  ]);
  return asFloat32(outputNamed(out, model.textIo.output, 'text encoder')).slice();
}

describe('plain prompts', () => {
  // sha256 of the images from the pipeline before prompt syntax (commit 0211c24), same requests; recomputed
  // when the demo model's weights changed (fine-tuned for any size, exported with dynamic height and width).
  it.each([
    ['a red circle on a blue background', '', 2, 'e0fa366cfd90cb064bc6e1b5782d638c639915fee5c10e3626c85cc7a62a3083'],
    ['a yellow triangle on a black background', 'a white square', 1, '3d4f0145be2487e5fb5ef25f57611c19cde5fe85e4f0a66c19aee4251e087a6b'],
    ['a red circle on a blue background, '.repeat(12).trim(), '', 1, 'b0cbe5fbf4d91544ae61721ec384c81b49f8a8528d1ca25a92e773fdd77e6211'],
  ])('give byte-identical images to the old pipeline: %j / %j x%i', async (prompt, negativePrompt, count, expected) => {
    const out = await generate(demo, request({ prompt, negativePrompt, count }));
    expect(sha256(out.images)).toBe(expected);
    expect(out.warnings).toEqual([]);
  });

  it('of at most 75 tokens are conditioned exactly as a single encode', async () => {
    const text = await encodeConditioning(demo, request({ guidance: 1 }), 6);
    expect(text.hiddenAt(0).data).toEqual(await plainStates(demo, 'a red circle on a blue background'));
  });
});

describe('emphasis', () => {
  it('multiplies each token state by its weight, then restores the mean, to float32 precision', async () => {
    const text = await encodeConditioning(demo, request({ prompt: 'a (red:1.3) circle on a [blue] background', guidance: 1 }), 6);
    const got = text.hiddenAt(0).data as Float32Array;
    const z = await plainStates(demo, 'a red circle on a blue background');
    const hidden = z.length / CHUNK_POSITIONS;
    // Positions: BOS a red circle on a blue background EOS ...: one token per word here.
    const weights = new Array<number>(CHUNK_POSITIONS).fill(1);
    weights[2] = 1.3;
    weights[6] = 1 / 1.1;
    const scaled = Array.from(z, (v, k) => v * Math.fround(at(weights, Math.floor(k / hidden))));
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    const factor = mean(z) / mean(scaled);
    let worst = 0;
    for (let k = 0; k < z.length; k++)
      worst = Math.max(worst, Math.abs(f32At(got, k) - at(scaled, k) * factor) / Math.max(1, Math.abs(at(scaled, k) * factor)));
    expect(worst).toBeLessThan(2e-6);
    // And the emphasis is there: the weighted token moved, by more than rounding.
    const red = (k: number) => f32At(got, 2 * hidden + k) - f32At(z, 2 * hidden + k);
    expect(Math.max(...Array.from({ length: hidden }, (_, k) => Math.abs(red(k))))).toBeGreaterThan(1e-2);
  });

  it("changes the image, and a syntax error is the user's InvalidRequestError", async () => {
    const plain = await generate(demo, request());
    const weighted = await generate(demo, request({ prompt: 'a (red:1.3) circle on a [blue] background' }));
    expect(sha256(weighted.images)).not.toBe(sha256(plain.images));
    await expect(generate(demo, request({ prompt: 'a (red:1.2.3) circle' }))).rejects.toThrow(InvalidRequestError);
    await expect(generate(demo, request({ negativePrompt: '(blur:.)' }))).rejects.toThrow(
      'negative prompt: the weight "." in ":.)" is not a number',
    );
  });
});

describe('chunks', () => {
  const words = (n: number, word = 'red') => Array.from({ length: n }, () => word).join(' ');

  it('BREAK starts a new chunk; long prompts take 75 tokens per chunk', () => {
    const t = demo.tokenizer;
    expect(chunkText(t, 'a red circle BREAK on a blue background', Infinity).chunks).toHaveLength(2);
    expect(chunkText(t, 'BREAK a', Infinity).chunks).toHaveLength(2);
    expect(chunkText(t, 'a BREAK', Infinity).chunks).toHaveLength(1);
    expect(chunkText(t, '', Infinity).chunks).toHaveLength(1);
    const long = chunkText(t, words(160), Infinity).chunks;
    expect(long).toHaveLength(3);
    expect(Array.from(at(long, 2).ids.slice(0, 12))).toEqual([t.bosTokenId, ...new Array(10).fill(at(long, 0).ids[1]), t.eosTokenId]);
  });

  it('moves the tokens after a comma of the last 20 to the next chunk, as A1111 does', () => {
    const t = demo.tokenizer;
    const moved = chunkText(t, `${words(60)}, ${words(30, 'blue')}`, Infinity).chunks;
    const [first, second] = [at(moved, 0), at(moved, 1)];
    // 60 reds and the comma stay; the blues go to the next chunk whole.
    expect(first.ids[61]).toBe(t.tokenize(',').ids[0]);
    expect(first.ids[62]).toBe(t.eosTokenId);
    expect(Array.from(second.ids.slice(1, 31))).toEqual(new Array(30).fill(t.tokenize('blue').ids[0]));
    // A comma further back than 20 tokens does not move the boundary.
    const far = at(chunkText(t, `${words(50)}, ${words(40, 'blue')}`, Infinity).chunks, 0);
    expect(far.ids[76]).toBe(t.eosTokenId);
    expect(far.ids[75]).toBe(t.tokenize('blue').ids[0]);
  });

  it('weights follow their tokens into the chunks', () => {
    const chunk = at(chunkText(demo.tokenizer, 'a (red:1.5) circle', Infinity).chunks, 0);
    expect(Array.from(chunk.weights.slice(0, 5))).toEqual([1, 1, 1.5, 1, 1]);
  });

  it('a UNet fixed at 77 positions gets the first chunk, the dropped words, and a warning for BREAK', async () => {
    const out = await generate(demo, request({ prompt: 'a red circle on a blue background BREAK a green square' }));
    expect(out.images).toHaveLength(1);
    expect(out.truncatedWords).toEqual(['a', 'green', 'square']);
    expect(out.warnings).toEqual(['the prompt has BREAK, but model shapes-demo reads only 75 tokens: the text past them was dropped']);
  });

  it('a UNet with a dynamic sequence axis gets 77 x n positions, the negative side padded with the empty prompt', async () => {
    const req = request({ prompt: 'a red circle BREAK on a blue background', width: 64, height: 64 });
    const text = await encodeConditioning(dynamic, req, req.steps);
    const states = text.hiddenAt(0);
    expect(states.seqLen).toBe(154);
    const perChunk = CHUNK_POSITIONS * states.hiddenSize;
    const empty = await plainStates(dynamic, '');
    // [uncond, cond]: the empty negative prompt is one chunk, padded with a second empty chunk.
    expect(states.data.slice(0, perChunk)).toEqual(empty);
    expect(states.data.slice(perChunk, 2 * perChunk)).toEqual(empty);
    expect(states.data.slice(2 * perChunk, 3 * perChunk)).toEqual(await plainStates(dynamic, 'a red circle'));
    expect(states.data.slice(3 * perChunk)).toEqual(await plainStates(dynamic, 'on a blue background'));

    const out = await generate(dynamic, req);
    expect(out.images).toHaveLength(1);
    expect(out.warnings).toEqual([]);
    const unbroken = await generate(dynamic, request({ prompt: 'a red circle on a blue background', width: 64, height: 64 }));
    expect(sha256(out.images)).not.toBe(sha256(unbroken.images));
  });
});

describe('prompt editing and alternation', () => {
  it('switches the hidden states at the steps of the schedule, each text encoded once', async () => {
    // 6 steps: [[3, 'red ...'], [6, 'blue ...']]; denoising calls 0-3 use red, 4-5 blue (A1111 counts calls from 0).
    const text = await encodeConditioning(demo, request({ prompt: '[red:blue:0.5] circle on a black background', guidance: 1 }), 6);
    const red = await plainStates(demo, 'red circle on a black background');
    const blue = await plainStates(demo, 'blue circle on a black background');
    for (const call of [0, 3]) expect(text.hiddenAt(call).data).toEqual(red);
    for (const call of [4, 5]) expect(text.hiddenAt(call).data).toEqual(blue);
    expect(text.hiddenAt(4)).toBe(text.hiddenAt(5));
  });

  it('an editing prompt runs and differs from both plain prompts', async () => {
    const edited = sha256((await generate(demo, request({ prompt: '[red:blue:0.5] circle on a black background' }))).images);
    const red = sha256((await generate(demo, request({ prompt: 'red circle on a black background' }))).images);
    const blue = sha256((await generate(demo, request({ prompt: 'blue circle on a black background' }))).images);
    expect(new Set([edited, red, blue]).size).toBe(3);
  });

  it('alternates every call, on the negative prompt too', async () => {
    const text = await encodeConditioning(demo, request({ prompt: 'a red circle', negativePrompt: '[blue|green] square' }), 6);
    const perImage = CHUNK_POSITIONS * text.hiddenAt(0).hiddenSize;
    const uncond = (call: number) => text.hiddenAt(call).data.slice(0, perImage);
    const blue = await plainStates(demo, 'blue square');
    const green = await plainStates(demo, 'green square');
    // Schedule [[1, blue], [2, green], [3, blue], ...] read with calls counted from 0: blue, blue, green, blue, green, blue.
    expect(
      [0, 1, 2, 3, 4, 5].map((call) =>
        uncond(call).every((v, k) => v === blue[k]) ? 'blue' : uncond(call).every((v, k) => v === green[k]) ? 'green' : '?',
      ),
    ).toEqual(['blue', 'blue', 'green', 'blue', 'green', 'blue']);
    expect(text.hiddenAt(1).data.slice(perImage)).toEqual(await plainStates(demo, 'a red circle'));
  });

  it('runs with PNDM (its schedule spread over its UNet calls), img2img and an fp16 UNet', async () => {
    const prompt = '[red:blue:0.5] (circle:1.2) on a [black|white] background';
    const pndm = await generate(demo, request({ prompt, sampler: 'pndm', steps: 4 }));
    expect(pndm.timings.steps).toBeGreaterThan(4);
    const init = await generate(demo, request({ prompt, init: { image: encodePng(at(pndm.images, 0)), strength: 0.5 } }));
    expect(init.timings.steps).toBe(3);
    const fp16 = await loadModel('test/fixtures/onnx-variants/fp16', { provider: 'cpu' });
    try {
      const out = await generate(fp16, request({ prompt, width: 64, height: 64, count: 2 }));
      expect(out.images).toHaveLength(2);
    } finally {
      await fp16.release();
    }
  });
});
