// The only module that touches onnxruntime-node: provider choice, session creation,
// tensor metadata and `run`. Everything else in the pipeline sees plain typed arrays.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession, Tensor, listSupportedBackends } from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';

export type ProviderName = 'cpu' | 'cuda' | 'auto';
export type TensorType = 'float32' | 'float16' | 'int32' | 'int64';

export interface TensorInfo {
  name: string;
  type: TensorType;
  /** Dimensions as the model declares them: numbers, or names / -1 for dynamic axes. Empty for a scalar. */
  shape: (number | string)[];
}

/** A plain tensor as the pipeline passes it around. float16 data travels as Uint16Array bits. */
export interface PlainTensor {
  type: TensorType;
  data: Float32Array | Uint16Array | Int32Array | BigInt64Array;
  dims: number[];
}

export interface OnnxSession {
  readonly file: string;
  readonly provider: 'cpu' | 'cuda';
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Runs the graph; returns outputs by name. Adds the time spent to `stats.runMs`. */
  run(feeds: Record<string, PlainTensor>, outputNames?: string[]): Promise<Record<string, PlainTensor>>;
  release(): Promise<void>;
}

/** Accumulates the time spent inside ONNX Runtime, so overhead can be measured. */
export interface RunStats {
  runMs: number;
  runs: number;
}

const SUPPORTED_TYPES: readonly TensorType[] = ['float32', 'float16', 'int32', 'int64'];

/**
 * Whether the CUDA execution provider can load. The binding always lists 'cuda' on
 * linux-x64, but its libraries exist only when onnxruntime-node was installed with
 * ONNXRUNTIME_NODE_INSTALL=cuda12, and they still need the CUDA runtime: so check the
 * file, then really create a session on the probe model.
 */
async function cudaLoads(probeModel: string): Promise<boolean> {
  if (!listSupportedBackends().some((b) => b.name === 'cuda')) return false;
  const binding = join(
    dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  if (!existsSync(join(binding, 'libonnxruntime_providers_cuda.so'))) return false;
  try {
    const session = await InferenceSession.create(probeModel, { executionProviders: ['cuda'], logSeverityLevel: 4 });
    await session.release();
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves the requested provider to the one that will really be used: `auto` is CUDA
 * if it loads, else CPU. `probeModel` is a small ONNX file to try CUDA on.
 */
export async function resolveProvider(requested: ProviderName, probeModel: string): Promise<'cpu' | 'cuda'> {
  if (requested === 'cpu') return 'cpu';
  const cuda = await cudaLoads(probeModel);
  if (requested === 'cuda' && !cuda) {
    throw new ModelLoadError(
      'the CUDA execution provider does not load: install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12 and cuDNN 9, or set EXECUTION_PROVIDER=cpu',
    );
  }
  return cuda ? 'cuda' : 'cpu';
}

function toInfo(meta: InferenceSession.ValueMetadata, file: string): TensorInfo {
  if (!meta.isTensor) throw new ModelLoadError(`${file}: value '${meta.name}' is not a tensor`);
  const type = meta.type as TensorType;
  if (!SUPPORTED_TYPES.includes(type)) {
    throw new ModelLoadError(`${file}: tensor '${meta.name}' has unsupported type ${meta.type}`);
  }
  return { name: meta.name, type, shape: [...meta.shape] };
}

export interface CreateSessionOptions {
  provider: 'cpu' | 'cuda';
  stats: RunStats;
  /** Threads for one operator; ONNX Runtime's default (all cores) when omitted. */
  intraOpThreads?: number;
}

export async function createSession(file: string, options: CreateSessionOptions): Promise<OnnxSession> {
  if (!existsSync(file)) throw new ModelLoadError(`missing ${file}`);
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(file, {
      executionProviders: options.provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      graphOptimizationLevel: 'all',
      ...(options.intraOpThreads !== undefined ? { intraOpNumThreads: options.intraOpThreads } : {}),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      // Idle ORT threads must not busy-wait between runs: on a few cores that spinning
      // starves the JavaScript that prepares the next step and delivers results.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const gpuOnly = /kernel|NhwcConv|BiasSplitGelu|GroupNorm|com\.microsoft/i.test(message);
    throw new ModelLoadError(
      `cannot load ${file}: ${message.split('\n')[0]}` +
        (gpuOnly && options.provider === 'cpu'
          ? ' (this looks like a GPU-optimised export with CUDA-only operators: it cannot run on CPU; use a plain fp32 export or EXECUTION_PROVIDER=cuda)'
          : ''),
    );
  }
  const inputs = session.inputMetadata.map((m) => toInfo(m, file));
  const outputs = session.outputMetadata.map((m) => toInfo(m, file));
  const stats = options.stats;
  return {
    file,
    provider: options.provider,
    inputs,
    outputs,
    async run(feeds, outputNames) {
      const ortFeeds: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new Tensor(t.type, t.data, t.dims);
      const started = performance.now();
      const result = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
      stats.runMs += performance.now() - started;
      stats.runs += 1;
      const out: Record<string, PlainTensor> = {};
      for (const [name, tensor] of Object.entries(result)) {
        out[name] = { type: tensor.type as TensorType, data: tensor.data as PlainTensor['data'], dims: [...tensor.dims] };
      }
      return out;
    },
    async release() {
      await session.release();
    },
  };
}
