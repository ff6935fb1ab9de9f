// The denoising loop: text-to-image and image-to-image with classifier-free guidance,
// seeded noise per image, previews and cancellation between steps. Buffers are
// allocated once per generation, never per step.
import sharp, { type Metadata } from 'sharp';
import { imageSeed, type GenerationRequest } from '../contract/index.js';
import { makeGrid } from '../images/grid.js';
import type { RgbImage } from '../images/png.js';
import { encodeConditioning, type UnetHiddenStates } from './conditioning.js';
import { GenerationAbortedError, InvalidRequestError, ModelFaultError } from './errors.js';
import { asFloat32, toHalfBits, floatsToHalf } from './float16.js';
import type { LoadedModel } from './model.js';
import type { PlainTensor, TensorInfo } from './onnx/index.js';
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
}

/** Largest image we accept as an img2img input (decompression bombs). */
const MAX_INIT_PIXELS = 40_000_000;

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

async function decodeInitImage(bytes: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: MAX_INIT_PIXELS }).metadata();
  } catch {
    throw new InvalidRequestError('the init image is not a readable PNG, JPEG or WebP file');
  }
  if (!['png', 'jpeg', 'webp'].includes(meta.format ?? '')) {
    throw new InvalidRequestError(`the init image must be PNG, JPEG or WebP, not ${meta.format ?? 'unknown'}`);
  }
  const { data } = await sharp(bytes, { limitInputPixels: MAX_INIT_PIXELS })
    .rotate()
    .removeAlpha()
    .resize(width, height, { fit: 'cover' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

export async function generate(model: LoadedModel, req: GenerationRequest, options: GenerateOptions = {}): Promise<GenerationOutput> {
  const started = performance.now();
  const onnxBefore = model.stats.runMs;
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

  if (req.init) {
    const encoded = await encodeInitLatents(model, req.init.image, req.width, req.height);
    const plan = asRequestError(req.sampler, () => scheduler.img2imgTimesteps(req.steps, req.init!.strength));
    timesteps = plan.timesteps;
    if (timesteps.length === 0) throw new InvalidRequestError('strength is too low to run any step; raise it or the steps');
    const single = new Float32Array(perImage);
    generators.forEach((g, i) => {
      const eps = g.randn(perImage);
      scheduler.addNoise(encoded, eps, timesteps[0]!, single);
      latents.set(single, i * perImage);
    });
  } else {
    asRequestError(req.sampler, () => scheduler.setTimesteps(req.steps));
    timesteps = scheduler.timesteps;
    const sigma = scheduler.initNoiseSigma;
    generators.forEach((g, i) => {
      const eps = g.randn(perImage);
      for (let k = 0; k < perImage; k++) latents[i * perImage + k] = fr(eps[k]! * sigma);
    });
  }

  // Text: per denoising call, unconditional first, as diffusers concatenates [uncond, cond].
  // Schedules span the calls of a full run (PNDM makes more than `steps`); img2img, as in A1111, runs their start.
  const text = await encodeConditioning(model, req, req.init ? req.steps : timesteps.length);
  const unet = prepareUnet(model, unetBatch, [C, h, w]);
  const noisePred = new Float32Array(n);
  const g32 = fr(req.guidance);
  const total = timesteps.length;
  const previewRgb = Array.from({ length: count }, () => new Uint8Array(h * w * 3));

  for (let step = 0; step < total; step++) {
    if (options.isAborted?.()) throw new GenerationAbortedError();
    const t = timesteps[step]!;
    scheduler.scaleModelInput(latents, t, unet.sample.subarray(0, n));
    if (guided) unet.sample.copyWithin(n, 0, n);
    const out = await unet.run(t, text.hiddenAt(step));
    if (guided) {
      for (let k = 0; k < n; k++) {
        const u = out[k]!;
        noisePred[k] = fr(u + fr(g32 * fr(out[n + k]! - u)));
      }
    } else {
      noisePred.set(out.subarray(0, n));
    }
    const result = scheduler.step(noisePred, t, latents, noise, latentsNext);
    if (result.prevSample !== latentsNext) latentsNext.set(result.prevSample);
    [latents, latentsNext] = [latentsNext, latents];

    const progress: StepProgress = { step: step + 1, totalSteps: total };
    if (options.onStep && (options.wantPreview?.(step + 1, total) ?? true)) {
      progress.preview = await previewOf(model, result.predOriginal ?? latents, count, h, w, previewRgb);
    }
    options.onStep?.(progress);
  }
  if (options.isAborted?.()) throw new GenerationAbortedError();

  const images = await decodeLatents(model, latents, count, [C, h, w], req);
  return {
    images,
    timings: { totalMs: performance.now() - started, onnxMs: model.stats.runMs - onnxBefore, steps: total },
    truncatedWords: text.truncatedWords,
    warnings: text.warnings,
  };
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

/** Preallocated UNet inputs and a run() that handles fixed batch sizes and fp16. */
function prepareUnet(model: LoadedModel, batch: number, latentDims: number[]) {
  const io = model.unetIo;
  const per = latentDims.reduce((a, b) => a * b, 1);
  const chunk = fixedBatch(io.sample) ?? batch;
  if (batch % chunk !== 0) throw new InvalidRequestError(`this UNet export only runs batches of ${chunk}`);
  const sample = new Float32Array(batch * per);
  const output = new Float32Array(batch * per);
  const half = io.sample.type === 'float16' ? new Uint16Array(chunk * per) : undefined;

  const tRank = io.timestep.shape.length;
  const tLen = tRank === 0 ? 1 : typeof io.timestep.shape[0] === 'number' && io.timestep.shape[0] > 0 ? io.timestep.shape[0] : chunk;
  const tDims = tRank === 0 ? [] : [tLen];
  const tType = io.timestep.type;
  const tData =
    tType === 'int64' ? new BigInt64Array(tLen) : tType === 'int32' ? new Int32Array(tLen) : tType === 'float16' ? new Uint16Array(tLen) : new Float32Array(tLen);

  return {
    sample,
    async run(t: number, hidden: UnetHiddenStates): Promise<Float32Array> {
      const perHidden = hidden.seqLen * hidden.hiddenSize;
      if (tData instanceof BigInt64Array) tData.fill(BigInt(Math.trunc(t)));
      else if (tData instanceof Int32Array) tData.fill(Math.trunc(t));
      else if (tData instanceof Uint16Array) tData.fill(toHalfBits(t));
      else tData.fill(t);
      for (let start = 0; start < batch; start += chunk) {
        const view = sample.subarray(start * per, (start + chunk) * per);
        const hv = hidden.data.subarray(start * perHidden, (start + chunk) * perHidden);
        const feeds: Record<string, PlainTensor> = {
          [io.sample.name]: floatTensor(io.sample.type, view, [chunk, ...latentDims], half),
          [io.timestep.name]: { type: tType, data: tData, dims: tDims },
          [io.hidden.name]: { type: io.hidden.type, data: hv, dims: [chunk, hidden.seqLen, hidden.hiddenSize] },
        };
        const result = await model.unet.run(feeds, [io.output]);
        asFloat32(result[io.output]!, output.subarray(start * per, (start + chunk) * per));
      }
      return output;
    },
  };
}

async function previewOf(model: LoadedModel, x0: Float32Array, count: number, h: number, w: number, buffers: Uint8Array[]): Promise<RgbImage> {
  const C = model.info.latentChannels;
  let tiles: RgbImage[];
  if (model.taesdDecoder) {
    const input = model.taesdDecoder.inputs[0]!;
    const out = await model.taesdDecoder.run({ [input.name]: floatTensor(input.type, x0, [count, C, h, w]) });
    const t = Object.values(out)[0]!;
    const data = asFloat32(t);
    const [H, W] = [t.dims[2]!, t.dims[3]!];
    tiles = Array.from({ length: count }, (_, i) => ({ width: W, height: H, rgb: imageTensorToRgb(data, i, H, W, '0..1') }));
  } else {
    tiles = buffers.map((buf, i) => ({ width: w, height: h, rgb: latentsToRgb(x0, i, C, h, w, model.previewFactors, buf) }));
  }
  const grid = makeGrid(tiles, 1);
  // makeGrid returns the tile itself for one image: copy so the caller may keep or transfer it.
  return { width: grid.width, height: grid.height, rgb: grid.rgb.slice() };
}

async function encodeInitLatents(model: LoadedModel, image: Uint8Array, width: number, height: number): Promise<Float32Array> {
  if (!model.vaeEncoder || !model.vaeEncoderIo) throw new InvalidRequestError(`model ${model.info.name} cannot start from an image`);
  const rgb = await decodeInitImage(image, width, height);
  const plane = width * height;
  const pixels = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) pixels[c * plane + p] = fr(fr(2 * fr(rgb[p * 3 + c]! / 255)) - 1);
  }
  const io = model.vaeEncoderIo;
  const out = await model.vaeEncoder.run({ [io.input.name]: floatTensor(io.input.type, pixels, [1, 3, height, width]) }, [io.output]);
  const t = out[io.output]!;
  const data = asFloat32(t);
  const C = model.info.latentChannels;
  const per = C * (height / model.info.vaeScaleFactor) * (width / model.info.vaeScaleFactor);
  // latent_parameters is mean ‖ log-variance: take the mean (the distribution's mode), which keeps seeds reproducible.
  const latents = new Float32Array(per);
  const scale = fr(model.info.scalingFactor);
  for (let k = 0; k < per; k++) latents[k] = fr(data[k]! * scale);
  return latents;
}

async function decodeLatents(model: LoadedModel, latents: Float32Array, count: number, latentDims: number[], req: GenerationRequest): Promise<GeneratedImage[]> {
  const io = model.vaeDecoderIo;
  const per = latentDims.reduce((a, b) => a * b, 1);
  const inv = fr(1 / model.info.scalingFactor);
  const scaled = new Float32Array(latents.length);
  for (let k = 0; k < latents.length; k++) scaled[k] = fr(latents[k]! * inv);
  // fp16 decoders give wrong results with batches (diffusers decodes one at a time); so do fixed-batch exports.
  const chunk = fixedBatch(io.input) ?? (io.input.type === 'float16' ? 1 : count);
  const images: GeneratedImage[] = [];
  for (let start = 0; start < count; start += chunk) {
    const size = Math.min(chunk, count - start);
    const view = scaled.subarray(start * per, (start + size) * per);
    const out = await model.vaeDecoder.run({ [io.input.name]: floatTensor(io.input.type, view, [size, ...latentDims]) }, [io.output]);
    const t = out[io.output]!;
    const data = asFloat32(t);
    const [H, W] = [t.dims[2]!, t.dims[3]!];
    if (H !== req.height || W !== req.width) {
      throw new ModelFaultError(`the VAE decoder produced ${W}x${H} for a ${req.width}x${req.height} request`);
    }
    for (let i = 0; i < size; i++) {
      const index = start + i;
      images.push({ index, seed: imageSeed(req.seed, index), width: W, height: H, rgb: imageTensorToRgb(data, i, H, W) });
    }
  }
  return images;
}
