// Pulling a diffusers ONNX export from the hub into models/<name>: only the files the
// pipeline loads, resumable, checksummed, then validated by the pipeline's own loader.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unsafePathReason, type DownloadOutcome, type HubClient, type HubFile } from './client.js';
import { HubError, isRetryable, UnsafePathError } from './errors.js';
import type { PullProgress } from './progress.js';

/** Name of the record written next to the model: where it came from, file by file. */
export const SOURCE_FILE = 'hub-source.json';

// The safety checker is an ONNX model too, but the pipeline never runs it (and it weighs 1.2 GB).
const SKIPPED_COMPONENTS = new Set(['safety_checker']);

/**
 * Whether a path (relative to the export's root) is one the pipeline needs:
 * model_index.json, <component>/config.json, scheduler/*, tokenizer/*,
 * <component>/model.onnx, <component>/model.onnx_data, <component>/weights.pb,
 * and our own latent_preview.json.
 */
export function isPipelineFile(path: string): boolean {
  if (path === 'model_index.json' || path === 'latent_preview.json') return true;
  const parts = path.split('/');
  if (parts.length !== 2 || SKIPPED_COMPONENTS.has(parts[0])) return false;
  const [folder, name] = parts;
  if (folder === 'scheduler' || folder === 'tokenizer') return true;
  return ['config.json', 'model.onnx', 'model.onnx_data', 'weights.pb'].includes(name);
}

export interface PullOptions {
  client: HubClient;
  /** Repository id, like stabilityai/sd-turbo. */
  repo: string;
  /** Branch, tag or commit. Default 'main'. */
  revision?: string;
  /** Folder of the export inside the repository, like 'onnx'. Default '' (the root). */
  subfolder?: string;
  /** Where the files go (models/<name>). Created if missing. */
  destination: string;
  progress: PullProgress;
  /** Further attempts per file after a broken connection or a server error, each resuming. Default 3. */
  retries?: number;
  /** Wait before a retry, doubled each time, in ms. Default 2000. */
  retryDelayMs?: number;
  /** Proves the folder loads (the pipeline's validateModelFolder); runs after every file is in place. */
  validate?: (dir: string) => Promise<unknown>;
  signal?: AbortSignal;
}

export interface PulledFile extends HubFile {
  /** Path inside the model folder. */
  localPath: string;
  outcome: DownloadOutcome;
}

export interface PullResult {
  dir: string;
  commit: string;
  files: PulledFile[];
}

export async function pullModel(options: PullOptions): Promise<PullResult> {
  const revision = options.revision ?? 'main';
  const subfolder = (options.subfolder ?? '').replace(/^\/+|\/+$/g, '');
  const unsafeSubfolder = subfolder === '' ? null : unsafePathReason(subfolder);
  if (unsafeSubfolder !== null) throw new UnsafePathError(`subfolder ${JSON.stringify(options.subfolder)} is not a folder inside the repository (${unsafeSubfolder})`);
  const retries = options.retries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 2000;
  if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`pullModel: retries must be a whole number >= 0, got ${retries}`);
  if (!(retryDelayMs >= 0)) throw new RangeError(`pullModel: retryDelayMs must be >= 0, got ${retryDelayMs}`);
  const { client, repo, destination, progress } = options;

  const commit = await client.resolveCommit(repo, revision);
  progress.note(`${repo}@${revision} is commit ${commit}`);
  const prefix = subfolder === '' ? '' : `${subfolder}/`;
  const all = await client.listFiles(repo, commit, subfolder);
  const wanted = all
    .map((file) => ({ file, localPath: file.path.slice(prefix.length) }))
    .filter(({ file, localPath }) => file.path.startsWith(prefix) && isPipelineFile(localPath));
  const where = `${repo}@${revision}${subfolder === '' ? '' : ` in ${subfolder}/`}`;
  if (!wanted.some((w) => w.localPath === 'model_index.json') || !wanted.some((w) => w.localPath.endsWith('/model.onnx'))) {
    const hint = subfolder === '' && all.some((f) => f.path.startsWith('onnx/')) ? ' (this repository has an onnx/ folder: add --subfolder onnx)' : '';
    throw new HubError(`${where} is not a diffusers ONNX export: no model_index.json and */model.onnx found${hint}`);
  }
  const total = wanted.reduce((sum, w) => sum + w.file.size, 0);
  progress.note(`${wanted.length} files, ${(total / 1e9).toFixed(2)} GB, into ${destination}`);

  const pulled: PulledFile[] = [];
  for (const { file, localPath } of wanted) {
    const target = join(destination, localPath);
    await mkdir(dirname(target), { recursive: true });
    progress.fileStart(localPath, file.size);
    const outcome = await downloadWithRetries(options, commit, file, target, localPath, retries, retryDelayMs);
    progress.fileDone(localPath, outcome);
    pulled.push({ ...file, localPath, outcome });
  }

  const record = {
    repo,
    revision,
    commit,
    subfolder,
    endpoint: client.endpoint,
    pulledAt: new Date().toISOString(),
    files: pulled.map(({ localPath, size, sha256, gitOid }) => ({ path: localPath, size, sha256, gitOid })),
  };
  await writeFile(join(destination, SOURCE_FILE), `${JSON.stringify(record, null, 2)}\n`);
  if (options.validate) await options.validate(destination);
  return { dir: destination, commit, files: pulled };
}

async function downloadWithRetries(
  options: PullOptions,
  commit: string,
  file: HubFile,
  target: string,
  localPath: string,
  retries: number,
  retryDelayMs: number,
): Promise<DownloadOutcome> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await options.client.downloadFile(options.repo, commit, file, target, {
        signal: options.signal,
        onProgress: (done) => options.progress.fileProgress(localPath, done),
      });
    } catch (error) {
      if (!isRetryable(error) || attempt >= retries) throw error;
      const delay = retryDelayMs * 2 ** attempt;
      const reason = (error as Error).message.replace(/; run the same command again to resume$/, '');
      options.progress.note(`${reason}; resuming in ${delay / 1000} s (retry ${attempt + 1} of ${retries})`);
      await sleep(delay, undefined, { signal: options.signal });
    }
  }
}
