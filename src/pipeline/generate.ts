// The denoising loop: text-to-image, image-to-image and edits (inpainting, outpainting,
// creative upscales) with classifier-free guidance, seeded noise per image, previews and
// cancellation between steps. Buffers are allocated once per generation, never per step.
import { at, f32At, u8At } from '../checked.js';
import { imageSeed, type GenerationRequest } from '../contract/index.js';
import { makeGrid } from '../images/grid.js';
import type { RgbImage } from '../images/png.js';
import { encodeConditioning, type UnetHiddenStates } from './conditioning.js';
import { compositeKept, isSubtleUpscale, latentMask, startCanvas, type StartCanvas } from './edits.js';
import { GenerationAbortedError, InvalidRequestError, ModelFaultError } from './errors.js';
import { asFloat32, toHalfBits, floatsToHalf } from './float16.js';
import type { LoadedModel } from './model.js';
import type { PlainTensor, TensorInfo } from './onnx/index.js';
import { outputNamed } from './onnx/output.js';
import { imageTensorToRgb, latentsToRgb } from './preview.js';
import { createGenerator } from './rng/index.js';
import { createScheduler } from './schedulers/registry.js';
import { SchedulerError } from './schedulers/errors.js';
import type { NoiseSource, Scheduler, SchedulerConfig } from './schedulers/types.js';

export interface GeneratedImage extends RgbImage {
  index: number;
  seed: number;
}

export interface GenerationTimings {
  totalMs: number;
  /** Time inside ONNX Runtime's session.run. */
  onnxMs: number;
  steps: number;
}

export interface GenerationOutput {
  images: GeneratedImage[];
  timings: GenerationTimings;
  /** Prompt words that did not fit in the tokens the model reads. */
  truncatedWords: string[];
  /** Things the user should know about how the prompt was read (e.g. BREAK on a model that reads one chunk). */
  warnings: string[];
}

export interface StepProgress {
  step: number;
  totalSteps: number;
  /** All images of the batch side by side at latent resolution; absent when skipped. */
  preview?: RgbImage;
}

export interface GenerateOptions {
  /** Checked between steps; true stops the loop with GenerationAbortedError. */
  isAborted?: () => boolean;
  onStep?: (progress: StepProgress) => void;
  /** Whether to compute a preview at this step (previews from a TAESD decoder cost a decoder run). */
  wantPreview?: (step: number, totalSteps: number) => boolean;
  /** The deployment's largest width x height, which decides the sizes edits make (editSize). Default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
}

/** The largest width x height when the deployment sets none. */
export const DEFAULT_MAX_PIXELS = 1024 * 1024;

const fr = Math.fround;

/** Fixed batch size of a model input, or null when the batch axis is dynamic. */
function fixedBatch(info: TensorInfo): number | null {
  const d = info.shape[0];
  return typeof d === 'number' && d > 0 ? d : null;
}

function floatTensor(type: TensorInfo['type'], data: Float32Array, dims: number[], half?: Uint16Array): PlainTensor {
  if (type === 'float16') return { type, data: floatsToHalf(data, half), dims };
  return { type: 'float32', data, dims };
}

/**
 * Steps draw noise for the whole batch; each image's share comes from its own seeded
 * generator. The combined buffer is reused: a scheduler consumes it within its step.
 */
function batchNoise(generators: NoiseSource[]): NoiseSource {
  let buffer = new Float32Array(0);
  return {
    randn(n: number): Float32Array {
      const per = n / generators.length;
      if (!Number.isInteger(per)) throw new RangeError(`noise request ${n} does not split over ${generators.length} images`);
      if (buffer.length !== n) buffer = new Float32Array(n);
      generators.forEach((g, i) => buffer.set(g.randn(per), i * per));
      return buffer;
    },
  };
}

export async function generate(model: LoadedModel, req: GenerationRequest, options: GenerateOptions = {}): Promise<GenerationOutput> {
  const started = performance.now();
  const onnxBefore = model.stats.runMs;
  const timings = (steps: number) => ({ totalMs: performance.now() - started, onnxMs: model.stats.runMs - onnxBefore, steps });
  if (isSubtleUpscale(req.edit)) {
    if (req.count !== 1) throw new InvalidRequestError('A subtle upscale makes one image: `count` must be 1.');
    const upscaled = await startCanvas(model, req, options.maxPixels ?? DEFAULT_MAX_PIXELS);
    // A copy the thread can transfer (sharp's output buffers cannot be).
    const image = { index: 0, seed: req.seed, width: upscaled.width, height: upscaled.height, rgb: new Uint8Array(upscaled.rgb) };
    return { images: [image], timings: timings(0), truncatedWords: [], warnings: [] };
  }
  const run = await denoise(model, req, options);
  const [C, h, w] = run.latentDims;
  const pixels = await decodeLatents(model, run.latents, req.count, [C, h, w]);
  const images: GeneratedImage[] = [];
  for (let index = 0; index < req.count; index++) {
    const rgb = imageTensorToRgb(pixels, index, req.height, req.width);
    if (run.start?.mask) compositeKept(rgb, run.start.rgb, run.start.mask);
    images.push({ index, seed: imageSeed(req.seed, index), width: req.width, height: req.height, rgb });
  }
  return { images, timings: timings(run.steps), truncatedWords: run.truncatedWords, warnings: run.warnings };
}

/** The outcome of the denoising loop: the final latents of every image, before decoding. */
export interface Denoised {
  latents: Float32Array;
  latentDims: [number, number, number];
  /** What the run started from (img2img and edits), with the edit's mask. */
  start: StartCanvas | null;
  /** UNet steps run. */
  steps: number;
  truncatedWords: string[];
  warnings: string[];
}

/**
 * The denoising loop. With an edit's mask and a plain UNet, the kept area is re-noised from
 * the canvas's latents at every step (the scheduler's addNoise at the next timestep, with
 * each image's initial noise) and blended in outside the mask, as diffusers' inpainting
 * pipeline does for 4-channel UNets; an inpainting UNet is given the mask and the masked
 * image's latents instead.
 */
export async function denoise(model: LoadedModel, req: GenerationRequest, options: GenerateOptions = {}): Promise<Denoised> {
  const info = model.info;
  const count = req.count;
  const C = info.latentChannels;
  const h = req.height / info.vaeScaleFactor;
  const w = req.width / info.vaeScaleFactor;
  const perImage = C * h * w;
  const n = count * perImage;
  const guided = req.guidance > 1;
  const unetBatch = guided ? 2 * count : count;

  const scheduler = schedulerFor(req, info.name, info.schedulerConfig);
  const generators = Array.from({ length: count }, (_, i) => createGenerator(req.rng, imageSeed(req.seed, i)));
  const noise = batchNoise(generators);
  let latents = new Float32Array(n);
  let latentsNext = new Float32Array(n);
  let timesteps: Float64Array;
  const { init } = req;
  const start = init ? await startCanvas(model, req, options.maxPixels ?? DEFAULT_MAX_PIXELS) : null;
  let blend: KeptAreaBlend | null = null;

  if (init && start) {
    const encoded = await encodeImage(model, rgbToPixels(start.rgb, null), req.width, req.height);
    const plan = asRequestError(req.sampler, () => scheduler.img2imgTimesteps(req.steps, init.strength));
    timesteps = plan.timesteps;
    const firstTimestep = timesteps[0];
    if (firstTimestep === undefined) throw new InvalidRequestError('strength is too low to run any step; raise it or the steps');
    const initialNoise = new Float32Array(n);
    const single = new Float32Array(perImage);
    generators.forEach((g, i) => {
      const eps = g.randn(perImage);
      initialNoise.set(eps, i * perImage);
      scheduler.addNoise(encoded, eps, firstTimestep, single);
      latents.set(single, i * perImage);
    });
    if (start.mask && !info.inpainting) {
      blend = { encoded, initialNoise, mask: latentMask(start.mask, req.width, req.height, info.vaeScaleFactor), known: single };
    }
  } else {
    asRequestError(req.sampler, () => scheduler.setTimesteps(req.steps));
    timesteps = scheduler.timesteps;
    const sigma = scheduler.initNoiseSigma;
    generators.forEach((g, i) => {
      const eps = g.randn(perImage);
      for (let k = 0; k < perImage; k++) latents[i * perImage + k] = fr(f32At(eps, k) * sigma);
    });
  }

  // Text: per denoising call, unconditional first, as diffusers concatenates [uncond, cond].
  // Schedules span the calls of a full run (PNDM makes more than `steps`); img2img, as in A1111, runs their start.
  const text = await encodeConditioning(model, req, req.init ? req.steps : timesteps.length);
  const conditioning = info.inpainting ? await inpaintingConditioning(model, start, req.width, req.height) : null;
  const unet = prepareUnet(model, unetBatch, [C, h, w], conditioning);
  const noisePred = new Float32Array(n);
  const g32 = fr(req.guidance);
  const total = timesteps.length;
  const previewRgb = Array.from({ length: count }, () => new Uint8Array(h * w * 3));

  for (const [step, t] of timesteps.entries()) {
    if (options.isAborted?.()) throw new GenerationAbortedError();
    scheduler.scaleModelInput(latents, t, unet.sample.subarray(0, n));
    if (guided) unet.sample.copyWithin(n, 0, n);
    const out = await unet.run(t, text.hiddenAt(step));
    if (guided) {
      for (let k = 0; k < n; k++) {
        const u = f32At(out, k);
        noisePred[k] = fr(u + fr(g32 * fr(f32At(out, n + k) - u)));
      }
    } else {
      noisePred.set(out.subarray(0, n));
    }
    const result = scheduler.step(noisePred, t, latents, noise, latentsNext);
    if (result.prevSample !== latentsNext) latentsNext.set(result.prevSample);
    [latents, latentsNext] = [latentsNext, latents];
    if (blend) blendKeptArea(scheduler, blend, latents, timesteps[step + 1] ?? null, count, h * w);

    const progress: StepProgress = { step: step + 1, totalSteps: total };
    if (options.onStep && (options.wantPreview?.(step + 1, total) ?? true)) {
      progress.preview = await previewOf(model, result.predOriginal ?? latents, count, h, w, previewRgb);
    }
    options.onStep?.(progress);
  }
  if (options.isAborted?.()) throw new GenerationAbortedError();
  return { latents, latentDims: [C, h, w], start, steps: total, truncatedWords: text.truncatedWords, warnings: text.warnings };
}

/** What re-noises an edit's kept area at every step: the canvas's latents, each image's initial noise, the latent mask (1 = repaint). */
interface KeptAreaBlend {
  encoded: Float32Array;
  initialNoise: Float32Array;
  mask: Float32Array;
  /** One image's re-noised canvas latents (scratch). */
  known: Float32Array;
}

/** latents = mask * latents + (1 - mask) * canvas latents noised to `nextT` (clean after the last step). */
function blendKeptArea(
  scheduler: Scheduler,
  blend: KeptAreaBlend,
  latents: Float32Array,
  nextT: number | null,
  count: number,
  plane: number,
): void {
  const perImage = blend.encoded.length;
  for (let i = 0; i < count; i++) {
    const known =
      nextT === null
        ? blend.encoded
        : scheduler.addNoise(blend.encoded, blend.initialNoise.subarray(i * perImage, (i + 1) * perImage), nextT, blend.known);
    const base = i * perImage;
    for (let k = 0; k < perImage; k++) {
      const m = f32At(blend.mask, k % plane);
      if (m === 0) latents[base + k] = f32At(known, k);
      else if (m !== 1) latents[base + k] = fr(fr(m * f32At(latents, base + k)) + fr(fr(1 - m) * f32At(known, k)));
    }
  }
}

/**
 * An inpainting UNet's extra input channels, as diffusers' StableDiffusionInpaintPipeline
 * builds them: the mask at latent size (1 = repaint), then the latents of the masked image
 * (the canvas with the repaint area at 0, mid grey). Without a mask (text-to-image, plain
 * img2img) everything is repainted and the masked image is all grey, as A1111 does.
 */
async function inpaintingConditioning(model: LoadedModel, start: StartCanvas | null, width: number, height: number): Promise<Float32Array> {
  const factor = model.info.vaeScaleFactor;
  const plane = (width / factor) * (height / factor);
  const mask = start?.mask ? latentMask(start.mask, width, height, factor) : new Float32Array(plane).fill(1);
  const pixels = start?.mask ? rgbToPixels(start.rgb, start.mask.repaint) : new Float32Array(3 * width * height);
  const maskedLatents = await encodeImage(model, pixels, width, height);
  const out = new Float32Array(plane + maskedLatents.length);
  out.set(mask, 0);
  out.set(maskedLatents, plane);
  return out;
}

/**
 * A sampler that cannot run a request (too few steps for PNDM's warm-up, an option the
 * model's scheduler config sets that we do not implement) is the request's problem, not a
 * fault to retry.
 */
function asRequestError<T>(sampler: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SchedulerError) throw new InvalidRequestError(`sampler ${sampler}: ${err.message}`);
    throw err;
  }
}

function schedulerFor(req: GenerationRequest, model: string, config: SchedulerConfig): Scheduler {
  try {
    return createScheduler(req.sampler, config);
  } catch (err) {
    if (err instanceof SchedulerError) throw new InvalidRequestError(`sampler ${req.sampler} cannot run model ${model}: ${err.message}`);
    throw err;
  }
}

/**
 * Preallocated UNet inputs and a run() that handles fixed batch sizes and fp16. `sample` holds
 * the scaled latents; an inpainting UNet gets `conditioning` (mask and masked-image latents)
 * after each item's latents.
 */
function prepareUnet(model: LoadedModel, batch: number, latentDims: [number, number, number], conditioning: Float32Array | null) {
  const io = model.unetIo;
  const per = latentDims[0] * latentDims[1] * latentDims[2];
  const perInput = per + (conditioning?.length ?? 0);
  const inputDims = [(perInput / per) * latentDims[0], latentDims[1], latentDims[2]];
  const chunk = fixedBatch(io.sample) ?? batch;
  if (batch % chunk !== 0) throw new InvalidRequestError(`this UNet export only runs batches of ${chunk}`);
  const sample = new Float32Array(batch * per);
  const packed = conditioning ? new Float32Array(chunk * perInput) : null;
  const output = new Float32Array(batch * per);
  const half = io.sample.type === 'float16' ? new Uint16Array(chunk * perInput) : undefined;

  const tRank = io.timestep.shape.length;
  const tLen = tRank === 0 ? 1 : typeof io.timestep.shape[0] === 'number' && io.timestep.shape[0] > 0 ? io.timestep.shape[0] : chunk;
  const tDims = tRank === 0 ? [] : [tLen];
  const tType = io.timestep.type;
  const tData =
    tType === 'int64'
      ? new BigInt64Array(tLen)
      : tType === 'int32'
        ? new Int32Array(tLen)
        : tType === 'float16'
          ? new Uint16Array(tLen)
          : new Float32Array(tLen);

  return {
    sample,
    async run(t: number, hidden: UnetHiddenStates): Promise<Float32Array> {
      const perHidden = hidden.seqLen * hidden.hiddenSize;
      if (tData instanceof BigInt64Array) tData.fill(BigInt(Math.trunc(t)));
      else if (tData instanceof Int32Array) tData.fill(Math.trunc(t));
      else if (tData instanceof Uint16Array) tData.fill(toHalfBits(t));
      else tData.fill(t);
      for (let start = 0; start < batch; start += chunk) {
        let view = sample.subarray(start * per, (start + chunk) * per);
        if (packed && conditioning) {
          for (let b = 0; b < chunk; b++) {
            packed.set(view.subarray(b * per, (b + 1) * per), b * perInput);
            packed.set(conditioning, b * perInput + per);
          }
          view = packed;
        }
        const hv = hidden.data.subarray(start * perHidden, (start + chunk) * perHidden);
        const feeds: Record<string, PlainTensor> = {
          [io.sample.name]: floatTensor(io.sample.type, view, [chunk, ...inputDims], half),
          [io.timestep.name]: { type: tType, data: tData, dims: tDims },
          [io.hidden.name]: { type: io.hidden.type, data: hv, dims: [chunk, hidden.seqLen, hidden.hiddenSize] },
        };
        const result = await model.unet.run(feeds, [io.output]);
        asFloat32(outputNamed(result, io.output, 'UNet'), output.subarray(start * per, (start + chunk) * per));
      }
      return output;
    },
  };
}

async function previewOf(
  model: LoadedModel,
  x0: Float32Array,
  count: number,
  h: number,
  w: number,
  buffers: Uint8Array[],
): Promise<RgbImage> {
  const C = model.info.latentChannels;
  let tiles: RgbImage[];
  if (model.taesdDecoder) {
    const input = at(model.taesdDecoder.inputs, 0);
    const out = await model.taesdDecoder.run({ [input.name]: floatTensor(input.type, x0, [count, C, h, w]) });
    const [t] = Object.values(out);
    if (t === undefined) throw new ModelFaultError('the TAESD decoder returned no output');
    const [, , H, W] = t.dims;
    if (H === undefined || W === undefined)
      throw new ModelFaultError(`the TAESD decoder returned [${t.dims.join(', ')}], not an image batch`);
    const data = asFloat32(t);
    tiles = Array.from({ length: count }, (_, i) => ({ width: W, height: H, rgb: imageTensorToRgb(data, i, H, W, '0..1') }));
  } else {
    tiles = buffers.map((buf, i) => ({ width: w, height: h, rgb: latentsToRgb(x0, i, C, h, w, model.previewFactors, buf) }));
  }
  const grid = makeGrid(tiles, 1);
  // makeGrid returns the tile itself for one image: copy so the caller may keep or transfer it.
  return { width: grid.width, height: grid.height, rgb: grid.rgb.slice() };
}

/** RGB bytes as the VAE encoder's input, [3, H, W] in [-1, 1]; pixels where `zeroed` is 1 are 0 (an inpainting UNet's masked image). */
function rgbToPixels(rgb: Uint8Array, zeroed: Uint8Array | null): Float32Array {
  const plane = rgb.length / 3;
  const pixels = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    if (zeroed?.[p]) continue;
    for (let c = 0; c < 3; c++) pixels[c * plane + p] = fr(fr(2 * fr(u8At(rgb, p * 3 + c) / 255)) - 1);
  }
  return pixels;
}

/** The diffusion-space latents of one image ([3, H, W] in [-1, 1]). */
async function encodeImage(model: LoadedModel, pixels: Float32Array, width: number, height: number): Promise<Float32Array> {
  if (!model.vaeEncoder || !model.vaeEncoderIo) throw new InvalidRequestError(`model ${model.info.name} cannot start from an image`);
  const io = model.vaeEncoderIo;
  const out = await model.vaeEncoder.run({ [io.input.name]: floatTensor(io.input.type, pixels, [1, 3, height, width]) }, [io.output]);
  const data = asFloat32(outputNamed(out, io.output, 'VAE encoder'));
  const C = model.info.latentChannels;
  const per = C * (height / model.info.vaeScaleFactor) * (width / model.info.vaeScaleFactor);
  // latent_parameters is mean ‖ log-variance: take the mean (the distribution's mode), which keeps seeds reproducible.
  const latents = new Float32Array(per);
  const scale = fr(model.info.scalingFactor);
  for (let k = 0; k < per; k++) latents[k] = fr(f32At(data, k) * scale);
  return latents;
}

/** The VAE decoder's output for every image of the batch: [count, 3, H, W], in [-1, 1]. */
export async function decodeLatents(
  model: LoadedModel,
  latents: Float32Array,
  count: number,
  latentDims: [number, number, number],
): Promise<Float32Array> {
  const io = model.vaeDecoderIo;
  const per = latentDims[0] * latentDims[1] * latentDims[2];
  const [height, width] = [latentDims[1] * model.info.vaeScaleFactor, latentDims[2] * model.info.vaeScaleFactor];
  const inv = fr(1 / model.info.scalingFactor);
  const scaled = new Float32Array(latents.length);
  for (let k = 0; k < latents.length; k++) scaled[k] = fr(f32At(latents, k) * inv);
  const pixels = new Float32Array(count * 3 * height * width);
  // fp16 decoders give wrong results with batches (diffusers decodes one at a time); so do fixed-batch exports.
  const chunk = fixedBatch(io.input) ?? (io.input.type === 'float16' ? 1 : count);
  for (let start = 0; start < count; start += chunk) {
    const size = Math.min(chunk, count - start);
    const view = scaled.subarray(start * per, (start + size) * per);
    const out = await model.vaeDecoder.run({ [io.input.name]: floatTensor(io.input.type, view, [size, ...latentDims]) }, [io.output]);
    const t = outputNamed(out, io.output, 'VAE decoder');
    if (t.dims[2] !== height || t.dims[3] !== width) {
      throw new ModelFaultError(`the VAE decoder produced ${t.dims[3]}x${t.dims[2]} for a ${width}x${height} request`);
    }
    asFloat32(t, pixels.subarray(start * 3 * height * width, (start + size) * 3 * height * width));
  }
  return pixels;
}
