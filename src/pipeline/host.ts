// PipelineHost: the pipeline as the worker and the CLI use it. It owns one worker
// thread holding the model's ONNX sessions (created once, reused for every job) and
// runs one generation at a time on it.
import { Worker } from 'node:worker_threads';
import { validateGenerationRequest, type GenerationRequest } from '../contract/index.js';
import type { RgbImage } from '../images/png.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { GenerationAbortedError, InvalidRequestError, ModelFaultError, ModelLoadError, PipelineError } from './errors.js';
import { DEFAULT_MAX_PIXELS, type GenerationOutput } from './generate.js';
import type { FromThread, ThreadData, ToThread } from './host-thread.js';
import type { ModelDetails } from './model.js';
import type { ProviderName } from './onnx/index.js';

export interface Progress {
  step: number;
  totalSteps: number;
  /** Present when the pipeline computed one for this step (see previewIntervalMs). */
  preview?: RgbImage;
}

export interface PipelineHostOptions {
  modelDir: string;
  /** Default 'auto': CUDA when onnxruntime-node has it, else CPU. */
  provider?: ProviderName;
  logger?: Logger;
  /** Largest width x height accepted. Default 1024 x 1024. */
  maxPixels?: number;
  /** Minimum time between two TAESD previews. Default 0 (every step). Linear previews come every step regardless: they cost microseconds. */
  previewIntervalMs?: number;
  /** Threads per ONNX operator. Default: ONNX Runtime's (all cores). */
  intraOpThreads?: number;
  /**
   * A super-resolution model for subtle upscales of models without their own `upscaler/`:
   * a folder with `model.onnx` and an optional `config.json` (docs/models.md). Without
   * either, subtle upscales are Lanczos resizes.
   */
  upscalerDir?: string;
}

export interface GenerateCallOptions {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

// Errors cross the thread boundary as name and message; these keep their class.
const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  InvalidRequestError,
  ModelLoadError,
  ModelFaultError,
};

function rebuildError(error: { name: string; message: string }): Error {
  if (error.name === 'GenerationAbortedError') return new GenerationAbortedError();
  const Cls = ERROR_CLASSES[error.name] ?? PipelineError;
  return new Cls(error.message);
}

function threadEntry(): { url: URL; entry?: string } {
  // Under tsx or vitest the sources are TypeScript: the thread must register tsx first.
  if (import.meta.url.endsWith('.ts')) {
    return { url: new URL('./thread-loader.mjs', import.meta.url), entry: new URL('./host-thread.ts', import.meta.url).href };
  }
  return { url: new URL('./host-thread.js', import.meta.url) };
}

export class PipelineHost {
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = new Map<
    number,
    { resolve: (o: GenerationOutput) => void; reject: (e: Error) => void; onProgress?: (p: Progress) => void }
  >();
  private failure: Error | null = null;
  /** Resolves when the thread has ended, for whatever reason (a crash, or close()). */
  readonly ended: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly abortFlag: Int32Array,
    readonly model: ModelDetails,
    readonly provider: 'cpu' | 'cuda',
    private readonly options: Required<Pick<PipelineHostOptions, 'maxPixels' | 'previewIntervalMs'>>,
  ) {
    worker.on('message', (m: FromThread) => this.onMessage(m));
    worker.on('error', (err: Error) => this.failAll(new PipelineError(`pipeline thread crashed: ${err.message}`)));
    this.ended = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.failAll(new PipelineError(`pipeline thread exited (code ${code})`));
        resolve();
      });
    });
  }

  /** Loads the model in a new thread; resolves once its sessions are ready. */
  static async start(options: PipelineHostOptions): Promise<PipelineHost> {
    const logger = options.logger ?? silentLogger();
    const abortBuffer = new SharedArrayBuffer(4);
    const entry = threadEntry();
    const data: ThreadData = {
      modelDir: options.modelDir,
      provider: options.provider ?? 'auto',
      abortFlag: abortBuffer,
      intraOpThreads: options.intraOpThreads,
      upscalerDir: options.upscalerDir,
    };
    const worker = new Worker(entry.url, { workerData: { ...data, entry: entry.entry } });
    // Set by the promise's executor, which runs at once; removed again once the thread is ready.
    let onMessage: (m: FromThread) => void = () => {};
    let onError: (e: Error) => void = () => {};
    let onExit: (code: number) => void = () => {};
    const ready = await new Promise<Extract<FromThread, { type: 'ready' }>>((resolve, reject) => {
      onMessage = (m) => {
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'error') reject(rebuildError(m.error));
      };
      onError = (err) => reject(new ModelLoadError(`pipeline thread failed to start: ${err.message}`));
      onExit = (code) => reject(new ModelLoadError(`pipeline thread exited during start (code ${code})`));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    // Only our own listeners: removeAllListeners would also drop Node's internal ones.
    worker.off('message', onMessage);
    worker.off('error', onError);
    worker.off('exit', onExit);
    const host = new PipelineHost(worker, new Int32Array(abortBuffer), ready.info, ready.provider, {
      maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
      previewIntervalMs: options.previewIntervalMs ?? 0,
    });
    if (options.provider === 'auto' || options.provider === undefined) {
      logger.info({ model: ready.info.name, provider: ready.provider }, `execution provider auto: using ${ready.provider}`);
    }
    for (const warning of ready.info.warnings) logger.warn({ model: ready.info.name }, warning);
    return host;
  }

  /** Validates and runs one request; concurrent calls wait their turn. A bad request rejects with InvalidRequestError. */
  async generate(request: GenerationRequest, options: GenerateCallOptions = {}): Promise<GenerationOutput> {
    validateGenerationRequest(request, this.model, this.options.maxPixels);
    const run = this.queue.then(() => this.runOne(request, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private runOne(request: GenerationRequest, options: GenerateCallOptions): Promise<GenerationOutput> {
    if (this.failure) return Promise.reject(this.failure);
    if (options.signal?.aborted) return Promise.reject(new GenerationAbortedError());
    const id = this.nextId++;
    Atomics.store(this.abortFlag, 0, 0);
    const onAbort = () => Atomics.store(this.abortFlag, 0, 1);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<GenerationOutput>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress: options.onProgress });
      const message: ToThread = {
        type: 'generate',
        id,
        request,
        previewIntervalMs: this.options.previewIntervalMs,
        maxPixels: this.options.maxPixels,
      };
      this.worker.postMessage(message);
    }).finally(() => options.signal?.removeEventListener('abort', onAbort));
  }

  private onMessage(m: FromThread): void {
    if (m.type === 'ready' || m.id === null) return;
    const entry = this.pending.get(m.id);
    if (!entry) return;
    if (m.type === 'progress') {
      try {
        entry.onProgress?.({ step: m.step, totalSteps: m.totalSteps, preview: m.preview });
      } catch {
        // A failing progress consumer must not break the generation.
      }
      return;
    }
    this.pending.delete(m.id);
    if (m.type === 'result') entry.resolve(m.result);
    else entry.reject(rebuildError(m.error));
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const entry of this.pending.values()) entry.reject(err);
    this.pending.clear();
  }

  /** The largest width x height this host accepts (it decides the sizes edits make). */
  get maxPixels(): number {
    return this.options.maxPixels;
  }

  /** Whether the thread is alive and can take work. */
  get healthy(): boolean {
    return this.failure === null;
  }

  async close(): Promise<void> {
    if (this.failure) return;
    this.failure = new PipelineError('pipeline closed');
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const message: ToThread = { type: 'close' };
    this.worker.postMessage(message);
    const timeout = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timeout);
  }
}
