// Runs inside a worker thread: onnxruntime-node's session.run blocks its thread, so the
// pipeline lives here and the calling process keeps its event loop free.
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { generate } from './generate.js';
import { loadModel, type LoadedModel } from './model.js';
import { resolveProvider, type ProviderName } from './onnx/index.js';
import type { GenerationRequest } from '../contract/index.js';

export interface ThreadData {
  modelDir: string;
  provider: ProviderName;
  /** Int32 flag set to 1 by the host to cancel the current generation. */
  abortFlag: SharedArrayBuffer;
  intraOpThreads?: number;
  upscalerDir?: string;
}

export type ToThread =
  { type: 'generate'; id: number; request: GenerationRequest; previewIntervalMs: number; maxPixels: number } | { type: 'close' };

export type FromThread =
  | { type: 'ready'; info: LoadedModel['info']; provider: 'cpu' | 'cuda' }
  | { type: 'progress'; id: number; step: number; totalSteps: number; preview?: { width: number; height: number; rgb: Uint8Array } }
  | { type: 'result'; id: number; result: Awaited<ReturnType<typeof generate>> }
  | { type: 'error'; id: number | null; error: { name: string; message: string } };

if (parentPort === null) throw new Error('host-thread.ts runs only as a worker thread (PipelineHost starts it)');
const port = parentPort;
const data = workerData as ThreadData;
const abort = new Int32Array(data.abortFlag);

function post(message: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function describe(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

let model: LoadedModel;
try {
  const provider = await resolveProvider(data.provider, join(data.modelDir, 'text_encoder', 'model.onnx'));
  model = await loadModel(data.modelDir, { provider, intraOpThreads: data.intraOpThreads, upscalerDir: data.upscalerDir });
  post({ type: 'ready', info: model.info, provider });
} catch (err) {
  post({ type: 'error', id: null, error: describe(err) });
  process.exit(1);
}

port.on('message', (message: ToThread) => {
  if (message.type === 'close') {
    // The host waits for the thread to exit; a failed release is told the way a failed load is.
    model.release().then(
      () => port.close(),
      (err: unknown) => {
        post({ type: 'error', id: null, error: describe(err) });
        process.exit(1);
      },
    );
    return;
  }
  void generateAndPost(message);
});

/** Runs one request and posts its result or its error; never rejects. */
async function generateAndPost(message: Extract<ToThread, { type: 'generate' }>): Promise<void> {
  const { id, request, previewIntervalMs, maxPixels } = message;
  let lastPreview = -Infinity;
  try {
    const result = await generate(model, request, {
      maxPixels,
      isAborted: () => Atomics.load(abort, 0) === 1,
      wantPreview: (step, total) => {
        // Linear previews cost microseconds: every step gets one. A TAESD preview is a decoder run.
        if (model.taesdDecoder === null) return true;
        const now = performance.now();
        if (step !== total && now - lastPreview < previewIntervalMs) return false;
        lastPreview = now;
        return true;
      },
      onStep: (p) => {
        const transfer = p.preview ? [p.preview.rgb.buffer as ArrayBuffer] : [];
        post({ type: 'progress', id, step: p.step, totalSteps: p.totalSteps, preview: p.preview }, transfer);
      },
    });
    post(
      { type: 'result', id, result },
      result.images.map((i) => i.rgb.buffer as ArrayBuffer),
    );
  } catch (err) {
    post({ type: 'error', id, error: describe(err) });
  }
}
