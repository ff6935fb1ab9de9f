// Pulling a diffusers ONNX export from the hub into models/<name>: only the files the
// pipeline loads, resumable, checksummed, then validated by the pipeline's own loader.
// Nothing is written outside the folder (the client refuses unsafe paths in the file list),
// no file grows past its declared size (the client stops the transfer), the free space is
// checked before the first byte, and abandoned `.part` files are removed.
import { mkdir, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileSize, PART_SUFFIX, unsafePathReason, type DownloadOutcome, type HubClient, type HubFile } from './client.js';
import { HubError, InsufficientSpaceError, isRetryable, UnsafePathError } from './errors.js';
import { formatBytes, type PullProgress } from './progress.js';

/** Name of the record written next to the model: where it came from, file by file. */
export const SOURCE_FILE = 'hub-source.json';

/** Free space that must remain once every file is downloaded (file system overhead, the source record). */
export const FREE_SPACE_MARGIN_BYTES = 100_000_000;

/** A `.part` file not written to for this long is deleted rather than resumed (it may be of another commit). */
export const STALE_PART_AGE_MS = 7 * 24 * 60 * 60 * 1000;

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
  const [folder, name, ...deeper] = path.split('/');
  if (folder === undefined || name === undefined || deeper.length > 0 || SKIPPED_COMPONENTS.has(folder)) return false;
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
  /** Bytes free for this process in the file system of a folder. Default availableBytes (fs.statfs). */
  freeSpace?: (dir: string) => Promise<number>;
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
  if (unsafeSubfolder !== null)
    throw new UnsafePathError(`subfolder ${JSON.stringify(options.subfolder)} is not a folder inside the repository (${unsafeSubfolder})`);
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
    const hint =
      subfolder === '' && all.some((f) => f.path.startsWith('onnx/')) ? ' (this repository has an onnx/ folder: add --subfolder onnx)' : '';
    throw new HubError(`${where} is not a diffusers ONNX export: no model_index.json and */model.onnx found${hint}`);
  }
  await removeStaleParts(destination, new Set(wanted.map((w) => w.localPath)), progress);
  const toDownload = await bytesToDownload(destination, wanted);
  if (toDownload > 0) await checkFreeSpace(destination, toDownload, options.freeSpace ?? availableBytes);
  const total = wanted.reduce((sum, w) => sum + w.file.size, 0);
  progress.note(`${wanted.length} files, ${(total / 1e9).toFixed(2)} GB (${formatBytes(toDownload)} to download), into ${destination}`);

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

/**
 * Bytes free for this process (statfs bavail × bsize) in the file system of `dir`, or of its
 * nearest existing parent when `dir` does not exist yet.
 */
export async function availableBytes(dir: string): Promise<number> {
  for (let current = resolve(dir); ; current = dirname(current)) {
    try {
      const stats = await statfs(current);
      return stats.bavail * stats.bsize;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(current) === current) throw error;
    }
  }
}

/** The declared bytes not on disk yet: files already at their size count as present, `.part` files for what they hold. */
async function bytesToDownload(destination: string, wanted: Array<{ file: HubFile; localPath: string }>): Promise<number> {
  let bytes = 0;
  for (const { file, localPath } of wanted) {
    const target = join(destination, localPath);
    if ((await fileSize(target)) === file.size) continue;
    const part = (await fileSize(`${target}${PART_SUFFIX}`)) ?? 0;
    bytes += part <= file.size ? file.size - part : file.size;
  }
  return bytes;
}

async function checkFreeSpace(destination: string, toDownload: number, freeSpace: (dir: string) => Promise<number>): Promise<void> {
  const needed = toDownload + FREE_SPACE_MARGIN_BYTES;
  const available = await freeSpace(destination);
  if (available < needed) {
    throw new InsufficientSpaceError(
      needed,
      available,
      `not enough free space for ${destination}: the download needs ${formatBytes(needed)} (${formatBytes(toDownload)} of files and a ${formatBytes(FREE_SPACE_MARGIN_BYTES)} margin), ${formatBytes(available)} is free`,
    );
  }
}

/**
 * Deletes the `.part` files under `destination` that cannot be resumed now: those of files no
 * longer in the list, and those not written to for STALE_PART_AGE_MS. Parts of wanted files
 * are kept, and resumed.
 */
async function removeStaleParts(destination: string, wanted: Set<string>, progress: PullProgress): Promise<void> {
  let entries;
  try {
    entries = await readdir(destination, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const now = Date.now();
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith(PART_SUFFIX)) continue;
    const path = join(entry.parentPath, entry.name);
    const localPath = relative(destination, path).slice(0, -PART_SUFFIX.length);
    const { size, mtimeMs } = await stat(path);
    let reason: string;
    if (!wanted.has(localPath)) reason = 'its file is not in the file list';
    else if (now - mtimeMs > STALE_PART_AGE_MS) reason = `not written to for more than ${STALE_PART_AGE_MS / 86_400_000} days`;
    else continue;
    await rm(path);
    progress.note(`removed ${relative(destination, path)} (${formatBytes(size)}): ${reason}`);
  }
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
