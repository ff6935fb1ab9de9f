// npm run imagine -- "<prompt>" [options]: one prompt to PNG files on the local machine,
// through the same pipeline the workers run. No Discord, database or Redis needed. Values
// are validated by the job contract, with the same messages the bot gives.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  editCount,
  editProblem,
  editSize,
  EditSizeError,
  editStrength,
  formatParameters,
  InvalidRequestError,
  isSamplerName,
  PAN_DIRECTIONS,
  randomSeed,
  RNG_NAMES,
  SAMPLERS,
  UPSCALE_MODES,
  type GenerationRequest,
  type PipelineEdit,
  type RegionCell,
  type RngName,
  type ZoomFactor,
} from '../contract/index.js';
import { AppError } from '../errors.js';
import { makeGrid } from '../images/grid.js';
import { encodePng } from '../images/png.js';
import { loadSharp } from '../images/sharp.js';
import { PipelineHost } from '../pipeline/index.js';

const USAGE = `usage: npm run imagine -- "<prompt>" [--negative TEXT] [--seed N] [--steps N] [--guidance F]
         [--sampler NAME] [--width W] [--height H] [--count 1-4] [--model DIR] [--rng numpy|torch]
         [--init IMAGE [--strength F] [--mask MASK.png | --region CELLS | --zoom-out 2|1.5
                                      | --pan left|right|up|down | --upscale subtle|creative]]
         [--upscaler DIR] [--out FILE.png] [--previews DIR] [--provider cpu|cuda|auto]`;

class UsageError extends Error {}

const DEFAULT_MODEL_DIR = 'models/shapes-demo';

/** A number option's value; its range is the contract's to check. */
function parseNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got '${text}'`);
  return value;
}

function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        negative: { type: 'string', default: '' },
        seed: { type: 'string' },
        steps: { type: 'string' },
        guidance: { type: 'string' },
        sampler: { type: 'string' },
        width: { type: 'string' },
        height: { type: 'string' },
        count: { type: 'string' },
        model: { type: 'string', default: DEFAULT_MODEL_DIR },
        rng: { type: 'string', default: 'numpy' },
        init: { type: 'string' },
        strength: { type: 'string' },
        mask: { type: 'string' },
        region: { type: 'string' },
        'zoom-out': { type: 'string' },
        pan: { type: 'string' },
        upscale: { type: 'string' },
        upscaler: { type: 'string' },
        out: { type: 'string', default: 'out.png' },
        previews: { type: 'string' },
        provider: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    const [firstLine = ''] = (err as Error).message.split('\n');
    throw new UsageError(firstLine);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const [prompt, ...more] = positionals;
  if (prompt === undefined || more.length > 0) throw new UsageError('give exactly one prompt (quote it)');
  if (prompt.trim() === '') throw new UsageError('the prompt is empty');
  const sampler = values.sampler;
  if (sampler !== undefined && !isSamplerName(sampler))
    throw new UsageError(`--sampler must be one of ${SAMPLERS.join(', ')}, got '${sampler}'`);
  const rng = RNG_NAMES.find((name) => name === values.rng);
  if (rng === undefined) throw new UsageError(`--rng must be one of ${RNG_NAMES.join(', ')}, got '${values.rng}'`);
  if (!['cpu', 'cuda', 'auto'].includes(values.provider))
    throw new UsageError(`--provider must be cpu, cuda or auto, got '${values.provider}'`);
  const editFlags = (['mask', 'region', 'zoom-out', 'pan', 'upscale'] as const).filter((f) => values[f] !== undefined);
  if (editFlags.length > 1) throw new UsageError(`give one edit at a time, not ${editFlags.map((f) => `--${f}`).join(' and ')}`);
  if (editFlags.length > 0 && values.init === undefined) throw new UsageError(`--${editFlags[0]} edits an image: give it with --init`);
  if (values.strength !== undefined && values.init === undefined) throw new UsageError('--strength needs --init');
  if (values.init !== undefined && values.strength === undefined && editFlags.length === 0)
    throw new UsageError('--init needs --strength (or an edit)');
  if (!values.out.toLowerCase().endsWith('.png')) throw new UsageError(`--out must name a .png file, got '${values.out}'`);
  const initImage = values.init === undefined ? undefined : readInput('init', values.init);
  const edit = parseEdit(values);
  const problem = edit === undefined || edit.kind === 'mask' ? null : editProblem(edit);
  if (problem !== null) throw new InvalidRequestError(problem);
  return {
    prompt,
    negative: values.negative,
    seed: parseNumber('seed', values.seed),
    steps: parseNumber('steps', values.steps) ?? 20,
    guidance: parseNumber('guidance', values.guidance) ?? 7.5,
    sampler,
    width: parseNumber('width', values.width),
    height: parseNumber('height', values.height),
    count: parseNumber('count', values.count),
    model: values.model,
    rng: rng satisfies RngName,
    init: initImage === undefined ? undefined : { image: initImage, strength: parseNumber('strength', values.strength) },
    edit,
    upscaler: values.upscaler,
    out: values.out,
    previews: values.previews,
    provider: values.provider as 'cpu' | 'cuda' | 'auto',
  };
}

function readInput(flag: string, file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch {
    throw new UsageError(`--${flag}: cannot read '${file}'`);
  }
}

/** The edit the flags ask for; its values are the contract's to check. */
function parseEdit(values: {
  mask?: string;
  region?: string;
  'zoom-out'?: string;
  pan?: string;
  upscale?: string;
}): PipelineEdit | undefined {
  if (values.mask !== undefined) return { kind: 'mask', mask: readInput('mask', values.mask) };
  if (values.region !== undefined) return { kind: 'region', cells: values.region.split(',').map((c) => c.trim()) as RegionCell[] };
  if (values['zoom-out'] !== undefined) return { kind: 'zoom', factor: parseNumber('zoom-out', values['zoom-out']) as ZoomFactor };
  if (values.pan !== undefined) {
    const direction = PAN_DIRECTIONS.find((d) => d === values.pan);
    if (direction === undefined) throw new UsageError(`--pan must be one of ${PAN_DIRECTIONS.join(', ')}, got '${values.pan}'`);
    return { kind: 'pan', direction };
  }
  if (values.upscale !== undefined) {
    const mode = UPSCALE_MODES.find((m) => m === values.upscale);
    if (mode === undefined) throw new UsageError(`--upscale must be one of ${UPSCALE_MODES.join(', ')}, got '${values.upscale}'`);
    return { kind: 'upscale', mode };
  }
  return undefined;
}

/** The start image's size as the pipeline reads it (EXIF orientation applied). */
async function imageSize(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  try {
    const sharp = await loadSharp();
    const { info } = await sharp(bytes).rotate().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height };
  } catch {
    throw new InvalidRequestError('the start image is not a readable PNG, JPEG or WebP file');
  }
}

function progressBar(step: number, total: number): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = Math.round((step / total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${step}/${total}`);
  if (step === total) process.stderr.write('\n');
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const edit = args.edit;
  const source = edit !== undefined && args.init !== undefined ? await imageSize(args.init.image) : null;
  const host = await PipelineHost.start({ modelDir: args.model, provider: args.provider, upscalerDir: args.upscaler });
  try {
    const model = host.model;
    // A stored-image edit decides its size, strength and count (the contract's, as the bot's buttons use them);
    // a mask repaints the start image at its own size.
    let size = { width: model.nativeWidth, height: model.nativeHeight };
    if (edit !== undefined && source !== null) {
      try {
        size = edit.kind === 'mask' ? source : editSize(edit, source, model, host.maxPixels);
      } catch (err) {
        throw err instanceof EditSizeError ? new InvalidRequestError(err.message) : err;
      }
    }
    const contractEdit = edit !== undefined && edit.kind !== 'mask' ? edit : undefined;
    const request: GenerationRequest = {
      prompt: args.prompt,
      negativePrompt: args.negative,
      seed: args.seed ?? randomSeed(),
      steps: args.steps,
      guidance: args.guidance,
      sampler: args.sampler ?? model.defaultSampler,
      width: args.width ?? size.width,
      height: args.height ?? size.height,
      count: args.count ?? (contractEdit ? editCount(contractEdit) : 1),
      rng: args.rng,
      ...(args.init
        ? { init: { image: args.init.image, strength: args.init.strength ?? (contractEdit ? editStrength(contractEdit) : 1) } }
        : {}),
      ...(edit ? { edit } : {}),
    };
    if (args.previews) mkdirSync(args.previews, { recursive: true });
    const result = await host.generate(request, {
      onProgress: (p) => {
        progressBar(p.step, p.totalSteps);
        if (args.previews && p.preview) {
          writeFileSync(join(args.previews, `step-${String(p.step).padStart(3, '0')}.png`), encodePng(p.preview));
        }
      },
    });
    const out = resolve(args.out);
    mkdirSync(dirname(out), { recursive: true });
    const written: string[] = [];
    const params = (seed: number) => formatParameters(request, seed, model);
    const [only] = result.images;
    if (only !== undefined && result.images.length === 1) {
      writeFileSync(out, encodePng(only, params(only.seed)));
      written.push(args.out);
    } else {
      writeFileSync(out, encodePng(makeGrid(result.images), params(request.seed)));
      written.push(args.out);
      for (const image of result.images) {
        const file = args.out.replace(/\.png$/i, `-${image.index + 1}.png`);
        writeFileSync(resolve(file), encodePng(image, params(image.seed)));
        written.push(file);
      }
    }
    if (result.truncatedWords.length > 0) {
      process.stderr.write(`warning: the prompt is longer than the model reads; dropped: ${result.truncatedWords.join(' ')}\n`);
    }
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
    const seeds = result.images.map((i) => i.seed).join(', ');
    const { totalMs, onnxMs, steps } = result.timings;
    process.stdout.write(`wrote ${written.join(', ')}\n`);
    process.stdout.write(`seed${result.images.length > 1 ? 's' : ''}: ${seeds}\n`);
    process.stdout.write(
      `${result.images.length} image(s) ${request.width}x${request.height}, ${steps} steps, ${request.sampler}, guidance ${request.guidance}, ` +
        `${model.name} on ${host.provider}: ${(totalMs / 1000).toFixed(2)} s (ONNX Runtime ${(onnxMs / 1000).toFixed(2)} s)\n`,
    );
  } finally {
    await host.close();
  }
}

main().catch((err: unknown) => {
  const known = err instanceof UsageError || err instanceof AppError;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`imagine: ${known ? '' : 'internal error: '}${message.split('\n')[0]}\n`);
  process.exitCode = err instanceof UsageError || err instanceof InvalidRequestError ? 2 : 1;
});
