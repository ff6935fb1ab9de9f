// Loads a Stable-Diffusion-style model folder in the diffusers / optimum ONNX layout and
// adapts to what each export declares (tensor names, dtypes, ranks), so one generation
// loop runs SD 1.5, SD 2.1, SD-Turbo and our demo model.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SAMPLERS, type ModelInfo } from '../contract/index.js';
import type { Logger } from '../log.js';
import { ModelLoadError } from './errors.js';
import { floatsToHalf } from './float16.js';
import { readGraph, type OnnxGraph } from './onnx/graph.js';
import { outputNamed } from './onnx/output.js';
import { createSession, type OnnxSession, type RunStats, type TensorInfo } from './onnx/index.js';
import { type PreviewFactors, SD15_PREVIEW_FACTORS } from './preview.js';
import type { SchedulerConfig } from './schedulers/types.js';
import { samplerForClassName } from './schedulers/registry.js';
import { ClipTokenizer } from './tokenizer/index.js';

/** What the pipeline knows of a loaded model: what workers advertise, and how to run it. */
export interface ModelDetails extends ModelInfo {
  dir: string;
  /** SHA-256 over the ONNX files (names and contents), recorded with every job. */
  hash: string;
  latentChannels: number;
  /**
   * A dedicated inpainting export: its UNet takes the latents, the mask and the masked
   * image's latents (2 x latentChannels + 1 input channels), as SD inpainting models do.
   */
  inpainting: boolean;
  /** The super-resolution model subtle upscales use (the folder's `upscaler/` or the configured one), or null for Lanczos. */
  upscaler: { file: string; scale: number } | null;
  /** Pixels per latent cell (8 for SD). */
  vaeScaleFactor: number;
  /** Latents are multiplied by this after encoding and divided before decoding. */
  scalingFactor: number;
  schedulerConfig: SchedulerConfig;
  /** Whether previews use a TAESD decoder (else a 4x3 linear latent-to-RGB map). */
  previewKind: 'taesd' | 'linear';
  warnings: string[];
}

/** The advertised part of a model's details (what a worker's heartbeat carries). */
export function advertisedInfo(details: ModelDetails): ModelInfo {
  const { name, nativeWidth, nativeHeight, sizeMultiple, fixedSize, defaultSampler, samplers, supportsImg2Img } = details;
  return { name, nativeWidth, nativeHeight, sizeMultiple, fixedSize, defaultSampler, samplers: [...samplers], supportsImg2Img };
}

export interface LoadedModel {
  info: ModelDetails;
  tokenizer: ClipTokenizer;
  textEncoder: OnnxSession;
  unet: OnnxSession;
  vaeDecoder: OnnxSession;
  vaeEncoder: OnnxSession | null;
  taesdDecoder: OnnxSession | null;
  previewFactors: PreviewFactors;
  /** Resolved tensor roles of the UNet, read from the session metadata. */
  unetIo: { sample: TensorInfo; timestep: TensorInfo; hidden: TensorInfo; output: string };
  textIo: { inputIds: TensorInfo; output: string };
  vaeDecoderIo: { input: TensorInfo; output: string };
  vaeEncoderIo: { input: TensorInfo; output: string; kind: 'sample' | 'parameters' } | null;
  upscaler: LoadedUpscaler | null;
  stats: RunStats;
  release(): Promise<void>;
}

const REQUIRED_FILES = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'text_encoder/model.onnx',
  'unet/model.onnx',
  'vae_decoder/model.onnx',
];

function readJson(file: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(readFileSync(file, 'utf8').replace(/\b-?Infinity\b|\bNaN\b/g, (m) => `"${m}"`));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new ModelLoadError(`${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function readOptionalJson(file: string): Record<string, unknown> {
  return existsSync(file) ? readJson(file) : {};
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Checks a folder's layout and configs without creating sessions; throws one ModelLoadError listing every problem. */
export function validateModelLayout(dir: string): void {
  if (!existsSync(dir)) throw new ModelLoadError(`model folder ${dir} does not exist`);
  const missing = REQUIRED_FILES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new ModelLoadError(`${dir} is not a diffusers ONNX model folder: missing ${missing.join(', ')}`);
  }
  const index = readJson(join(dir, 'model_index.json'));
  const cls = index._class_name;
  if (typeof cls !== 'string') throw new ModelLoadError(`${dir}/model_index.json has no _class_name`);
  readJson(join(dir, 'scheduler/scheduler_config.json'));
}

/** Applies the corrections diffusers' pipelines make to old scheduler configs, with a warning each. */
export function correctSchedulerConfig(config: SchedulerConfig): { config: SchedulerConfig; warnings: string[] } {
  const fixed: SchedulerConfig = { ...config };
  const warnings: string[] = [];
  if (fixed.steps_offset !== undefined && fixed.steps_offset !== 1) {
    warnings.push(`scheduler_config.json has steps_offset ${JSON.stringify(fixed.steps_offset)}; using 1 as diffusers does`);
    fixed.steps_offset = 1;
  }
  if (fixed.clip_sample === true) {
    warnings.push('scheduler_config.json has clip_sample true; using false as diffusers does');
    fixed.clip_sample = false;
  }
  return { config: fixed, warnings };
}

async function hashFiles(dir: string, files: string[]): Promise<string> {
  const outer = createHash('sha256');
  for (const rel of files) {
    const inner = createHash('sha256');
    for await (const chunk of createReadStream(join(dir, rel))) inner.update(chunk as Buffer);
    outer.update(`${rel}\0${inner.digest('hex')}\n`);
  }
  return outer.digest('hex');
}

/** The output named `name`, else the graph's first output. */
function outputRole(session: OnnxSession, name: string): TensorInfo {
  const output = session.outputs.find((o) => o.name === name) ?? session.outputs[0];
  if (output === undefined) throw new ModelLoadError(`${session.file}: the graph has no outputs`);
  return output;
}

/** Finds the tensor playing a role: by name first, else by rank. */
function pick(infos: readonly TensorInfo[], names: string[], rank: number[] | null, what: string, file: string): TensorInfo {
  const byName = infos.find((t) => names.includes(t.name));
  if (byName) return byName;
  const byRank = rank ? infos.filter((t) => rank.includes(t.shape.length)) : [];
  const [only, ...others] = byRank;
  if (only !== undefined && others.length === 0) return only;
  throw new ModelLoadError(
    `${file}: cannot find the ${what} (expected one of ${names.join(', ')}; has ${infos.map((t) => t.name).join(', ')})`,
  );
}

function externalWeightsNote(folder: string): string {
  const has = ['model.onnx_data', 'weights.pb'].filter((f) => existsSync(join(folder, f)));
  return has.length > 0 ? ` (external weights: ${has.join(', ')})` : '';
}

/** An ESRGAN-style super-resolution model: `image` [B,3,H,W] RGB in [0,1] -> [B,3,scale*H,scale*W]. */
export interface LoadedUpscaler {
  session: OnnxSession;
  input: TensorInfo;
  output: string;
  scale: number;
}

export interface LoadModelOptions {
  provider: 'cpu' | 'cuda';
  logger?: Logger;
  intraOpThreads?: number;
  /** A folder holding an upscaler (`model.onnx`, optional `config.json`) for models without their own `upscaler/`. */
  upscalerDir?: string;
}

/** The stride-2 convolutions of a graph: a diffusers UNet has one per downsampling stage. */
function stride2Convolutions(graph: OnnxGraph): number {
  return graph.nodes.filter((n) => n.opType === 'Conv' && n.strides !== null && n.strides.length > 0 && n.strides.every((s) => s === 2))
    .length;
}

/** The input channels of the convolution reading graph input `input` directly (a UNet's conv_in), from its weight's shape. */
function convInputChannels(graph: OnnxGraph, input: string): number | undefined {
  const conv = graph.nodes.find((n) => n.opType === 'Conv' && n.inputs[0] === input);
  const weight = conv === undefined ? undefined : graph.initializers.get(conv.inputs[1] ?? '');
  return weight !== undefined && weight.length === 4 ? weight[1] : undefined;
}

/** The scale of an upscaler: its config.json, else its declared shapes, else the shape of one small run. */
async function upscalerScale(dir: string, session: OnnxSession, input: TensorInfo, output: string): Promise<number> {
  const config = readOptionalJson(join(dir, 'config.json'));
  let scale = num(config.scale);
  const out = outputRole(session, output);
  const [inH, outH] = [input.shape[2], out.shape[2]];
  if (scale === undefined && typeof inH === 'number' && typeof outH === 'number' && inH > 0) scale = outH / inH;
  if (scale === undefined) {
    const side = 8;
    const probe = new Float32Array(3 * side * side).fill(0.5);
    const data = input.type === 'float16' ? floatsToHalf(probe) : probe;
    const result = await session.run({ [input.name]: { type: input.type, data, dims: [1, 3, side, side] } }, [output]);
    // a 4-D output's height over the probe's (NaN for any other rank, refused below)
    scale = (outputNamed(result, output, 'upscaler').dims[2] ?? NaN) / side;
  }
  if (!Number.isInteger(scale) || scale < 2)
    throw new ModelLoadError(`${dir}: the upscaler's scale must be a whole number of at least 2, not ${scale}`);
  return scale;
}

export async function loadModel(dirInput: string, options: LoadModelOptions): Promise<LoadedModel> {
  const dir = resolve(dirInput);
  validateModelLayout(dir);
  const warnings: string[] = [];

  const rawScheduler = readJson(join(dir, 'scheduler/scheduler_config.json'));
  const corrected = correctSchedulerConfig(rawScheduler);
  warnings.push(...corrected.warnings);
  const className = rawScheduler._class_name;
  const defaultSampler = samplerForClassName(typeof className === 'string' ? className : '', rawScheduler);

  const vaeConfig = {
    ...readOptionalJson(join(dir, 'vae_encoder/config.json')),
    ...readOptionalJson(join(dir, 'vae_decoder/config.json')),
  };
  const unetConfig = readOptionalJson(join(dir, 'unet/config.json'));
  let scalingFactor = num(vaeConfig.scaling_factor);
  if (scalingFactor === undefined) {
    scalingFactor = 0.18215;
    warnings.push('vae_decoder/config.json has no scaling_factor; assuming 0.18215 (SD 1.x/2.x)');
  }
  const vaeBlocks = Array.isArray(vaeConfig.block_out_channels) ? vaeConfig.block_out_channels.length : 4;
  const vaeScaleFactor = 2 ** (vaeBlocks - 1);
  // What unet/config.json does not say is read from the UNet's graph (diffusers' legacy script writes no configs).
  let unetGraph: OnnxGraph | undefined;
  const unetGraphOnce = () => (unetGraph ??= readGraph(join(dir, 'unet/model.onnx')));
  const unetBlocks = Array.isArray(unetConfig.block_out_channels) ? unetConfig.block_out_channels.length : 0;
  const sizeMultiple = vaeScaleFactor * 2 ** (unetBlocks > 0 ? unetBlocks - 1 : stride2Convolutions(unetGraphOnce()));

  const stats: RunStats = { runMs: 0, runs: 0 };
  const sessionOptions = { provider: options.provider, stats, intraOpThreads: options.intraOpThreads };
  const opened: OnnxSession[] = [];
  const openFile = async (file: string, what: string): Promise<OnnxSession> => {
    try {
      const s = await createSession(file, sessionOptions);
      opened.push(s);
      return s;
    } catch (err) {
      if (err instanceof ModelLoadError) throw new ModelLoadError(`${what}: ${err.message}${externalWeightsNote(dirname(file))}`);
      throw err;
    }
  };
  const open = (component: string) => openFile(join(dir, component, 'model.onnx'), `${basename(dir)}/${component}`);

  try {
    const tokenizer = await ClipTokenizer.fromFiles(join(dir, 'tokenizer'));
    const textEncoder = await open('text_encoder');
    const unet = await open('unet');
    const vaeDecoder = await open('vae_decoder');
    const vaeEncoder = existsSync(join(dir, 'vae_encoder/model.onnx')) ? await open('vae_encoder') : null;
    const taesdDecoder = existsSync(join(dir, 'taesd_decoder/model.onnx')) ? await open('taesd_decoder') : null;
    const upscalerFolder = existsSync(join(dir, 'upscaler/model.onnx'))
      ? join(dir, 'upscaler')
      : options.upscalerDir !== undefined
        ? resolve(options.upscalerDir)
        : null;
    let upscaler: LoadedUpscaler | null = null;
    if (upscalerFolder !== null) {
      const session = await openFile(join(upscalerFolder, 'model.onnx'), 'upscaler');
      const input = pick(session.inputs, ['image', 'input'], [4], 'image input', session.file);
      const output = outputRole(session, 'upscaled').name;
      if (input.type !== 'float32' && input.type !== 'float16')
        throw new ModelLoadError(`${session.file}: the image input must be float32 or float16, not ${input.type}`);
      upscaler = { session, input, output, scale: await upscalerScale(upscalerFolder, session, input, output) };
    }

    const textIo = {
      inputIds: pick(textEncoder.inputs, ['input_ids'], [2], 'input_ids input', textEncoder.file),
      output: outputRole(textEncoder, 'last_hidden_state').name,
    };
    if (textIo.inputIds.type !== 'int32' && textIo.inputIds.type !== 'int64') {
      throw new ModelLoadError(`${textEncoder.file}: input_ids must be int32 or int64, not ${textIo.inputIds.type}`);
    }
    const unetIo = {
      sample: pick(unet.inputs, ['sample'], [4], 'sample input', unet.file),
      timestep: pick(unet.inputs, ['timestep', 'timesteps', 't'], [0, 1], 'timestep input', unet.file),
      hidden: pick(unet.inputs, ['encoder_hidden_states'], [3], 'encoder_hidden_states input', unet.file),
      output: outputRole(unet, 'out_sample').name,
    };
    const vaeDecoderIo = {
      input: pick(vaeDecoder.inputs, ['latent_sample'], [4], 'latent_sample input', vaeDecoder.file),
      output: outputRole(vaeDecoder, 'sample').name,
    };
    const declaredChannels = (t: TensorInfo) => (typeof t.shape[1] === 'number' && t.shape[1] > 0 ? t.shape[1] : undefined);
    const latentChannels = num(vaeConfig.latent_channels) ?? declaredChannels(vaeDecoderIo.input) ?? num(unetConfig.out_channels) ?? 4;
    const unetChannels =
      declaredChannels(unetIo.sample) ??
      num(unetConfig.in_channels) ??
      convInputChannels(unetGraphOnce(), unetIo.sample.name) ??
      latentChannels;
    const inpainting = unetChannels === 2 * latentChannels + 1;
    if (unetChannels !== latentChannels && !inpainting) {
      throw new ModelLoadError(
        `${unet.file}: the UNet takes ${unetChannels} channels, neither the ${latentChannels} latent channels nor an inpainting UNet's ${2 * latentChannels + 1}`,
      );
    }
    if (inpainting && !vaeEncoder)
      throw new ModelLoadError(`${basename(dir)}: an inpainting UNet needs a vae_encoder (for the masked image's latents)`);
    if (
      vaeEncoder &&
      readGraph(vaeEncoder.file).nodes.some((n) => n.opType.startsWith('RandomNormal') || n.opType.startsWith('RandomUniform'))
    ) {
      warnings.push(
        'vae_encoder/model.onnx draws random noise (RandomNormalLike): images started from an image (img2img, variations, edits) are not exactly reproducible on this export',
      );
    }
    let vaeEncoderIo: LoadedModel['vaeEncoderIo'] = null;
    if (vaeEncoder) {
      const params = vaeEncoder.outputs.find((o) => o.name === 'latent_parameters');
      const out = params ?? outputRole(vaeEncoder, 'latent_sample');
      vaeEncoderIo = {
        input: pick(vaeEncoder.inputs, ['sample'], [4], 'sample input', vaeEncoder.file),
        output: out.name,
        kind: params ? 'parameters' : 'sample',
      };
    }

    const unetLatent = num(unetConfig.sample_size) ?? (typeof unetIo.sample.shape[2] === 'number' ? unetIo.sample.shape[2] : 64);
    const nativeSize = num(vaeConfig.sample_size) ?? unetLatent * vaeScaleFactor;
    // An export with numeric spatial axes (UNet or VAE decoder) runs at exactly that latent size.
    const declaredLatentSize = (t: TensorInfo) => {
      const [, , h, w] = t.shape;
      return typeof h === 'number' && h > 0 && typeof w === 'number' && w > 0 ? { width: w, height: h } : null;
    };
    const fixedLatent = declaredLatentSize(unetIo.sample) ?? declaredLatentSize(vaeDecoderIo.input);
    const fixedSize =
      fixedLatent === null ? null : { width: fixedLatent.width * vaeScaleFactor, height: fixedLatent.height * vaeScaleFactor };

    const previewFile = join(dir, 'latent_preview.json');
    let previewFactors = SD15_PREVIEW_FACTORS;
    if (existsSync(previewFile)) {
      const p = readJson(previewFile);
      previewFactors = { factors: p.factors as number[][], bias: (p.bias as number[] | undefined) ?? [0, 0, 0] };
    } else if (latentChannels !== 4) {
      warnings.push(`no latent_preview.json for ${latentChannels} latent channels; previews use SD 1.5 factors on the first 4`);
    }

    const onnxFiles = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']
      .flatMap((c) => ['model.onnx', 'model.onnx_data', 'weights.pb'].map((f) => `${c}/${f}`))
      .filter((f) => existsSync(join(dir, f)));
    const info: ModelDetails = {
      name: basename(dir),
      dir,
      hash: await hashFiles(dir, onnxFiles),
      nativeWidth: fixedSize?.width ?? nativeSize,
      nativeHeight: fixedSize?.height ?? nativeSize,
      sizeMultiple,
      fixedSize,
      latentChannels,
      inpainting,
      upscaler: upscaler === null ? null : { file: upscaler.session.file, scale: upscaler.scale },
      vaeScaleFactor,
      scalingFactor,
      defaultSampler,
      samplers: [...SAMPLERS],
      schedulerConfig: corrected.config,
      supportsImg2Img: vaeEncoder !== null,
      previewKind: taesdDecoder ? 'taesd' : 'linear',
      warnings,
    };
    for (const w of warnings) options.logger?.warn({ model: info.name }, w);

    return {
      info,
      tokenizer,
      textEncoder,
      unet,
      vaeDecoder,
      vaeEncoder,
      taesdDecoder,
      previewFactors,
      unetIo,
      textIo,
      vaeDecoderIo,
      vaeEncoderIo,
      upscaler,
      stats,
      async release() {
        await Promise.all(opened.map((s) => s.release()));
      },
    };
  } catch (err) {
    await Promise.all(opened.map((s) => s.release().catch(() => undefined)));
    throw err;
  }
}

/** Loads a folder with CPU sessions and releases it: proves that a model folder works. */
export async function validateModelFolder(dir: string): Promise<ModelDetails> {
  const model = await loadModel(dir, { provider: 'cpu' });
  await model.release();
  return model.info;
}
