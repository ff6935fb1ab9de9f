// A small client for the Hugging Face Hub HTTP API: resolve a revision to a commit, list
// a repository's files with their checksums, and download files resumably.
//   GET {endpoint}/api/models/{repo}/revision/{rev}              -> { sha }
//   GET {endpoint}/api/models/{repo}/tree/{sha}/{path}?recursive=true
//       -> [{ type, path, size, oid, lfs?: { oid, size } }], paged by a Link: <...>; rel="next" header
//   GET {endpoint}/{repo}/resolve/{sha}/{path}                   -> the bytes (often a redirect to a CDN)
// LFS files are checked against lfs.oid (SHA-256 of the content); small files stored in git
// against oid (the git blob SHA-1: sha1("blob <size>\0" + content)).
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import {
  ChecksumError,
  DownloadInterruptedError,
  HubError,
  HubHttpError,
  HubUnreachableError,
  SizeMismatchError,
  UnsafePathError,
} from './errors.js';

export interface HubFile {
  /** Path in the repository, e.g. `onnx/unet/model.onnx`. */
  path: string;
  size: number;
  /** SHA-256 of the content (hex) for LFS files. */
  sha256?: string;
  /** Git blob id (SHA-1 hex) of what git stores: the content itself for small files. */
  gitOid: string;
}

export interface HubClientOptions {
  /** Hub address, like https://huggingface.co (HF_ENDPOINT). */
  endpoint: string;
  /** Access token (HF_TOKEN) for gated or private repositories; sent to the hub's own origin only. */
  token?: string;
  /** Redirects followed per request. Default 5. */
  maxRedirects?: number;
}

/** What `downloadFile` did: fetched it whole, finished a `.part` file, or found it already there and intact. */
export type DownloadOutcome = 'downloaded' | 'resumed' | 'present';

export interface DownloadOptions {
  /** Called with the number of bytes of the file on disk so far (resumed bytes included). */
  onProgress?: (bytesDone: number) => void;
  signal?: AbortSignal;
}

const REPO_ID = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;

export function assertRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..')) {
    throw new HubError(`"${repo}" is not a hub repository id (expected owner/name, like stabilityai/sd-turbo)`);
  }
}

/**
 * Why a path from a file list may not be written under the model folder, or null when it
 * may: every segment must be a plain name (no "..", ".", empty segment, backslash or
 * control character), and the path relative.
 */
export function unsafePathReason(path: string): string | null {
  if (path === '') return 'an empty path';
  if (/\p{Cc}/u.test(path)) return 'a control character';
  if (path.includes('\\')) return 'a backslash';
  if (path.startsWith('/')) return 'an absolute path';
  for (const segment of path.split('/')) {
    if (segment === '') return 'an empty segment';
    if (segment === '.' || segment === '..') return `a "${segment}" segment`;
  }
  return null;
}

/** URL-encodes each segment of a slash-separated path. */
function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** The `rel="next"` URL of a Link header, if any. */
function nextLink(link: string | null): string | undefined {
  if (!link) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return match?.[1];
}

/** Suffix of a file being downloaded, renamed away once complete and checked. */
export const PART_SUFFIX = '.part';

/** The size of a file, or undefined when there is none. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The checksum the hub gives for a file, and a hash being fed its content. */
class ContentHash {
  readonly algorithm: 'SHA-256' | 'git SHA-1';
  readonly expected: string;
  private hash: Hash;

  constructor(private readonly file: HubFile) {
    this.algorithm = file.sha256 ? 'SHA-256' : 'git SHA-1';
    this.expected = (file.sha256 ?? file.gitOid).toLowerCase();
    this.hash = this.fresh();
  }

  private fresh(): Hash {
    if (this.file.sha256) return createHash('sha256');
    return createHash('sha1').update(`blob ${this.file.size}\0`);
  }

  reset(): void {
    this.hash = this.fresh();
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  async updateFromFile(path: string): Promise<void> {
    for await (const chunk of createReadStream(path)) this.hash.update(chunk as Buffer);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export class HubClient {
  readonly endpoint: string;
  private readonly origin: string;
  private readonly token: string | undefined;
  private readonly maxRedirects: number;

  constructor(options: HubClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.origin = new URL(this.endpoint).origin;
    this.token = options.token;
    this.maxRedirects = options.maxRedirects ?? 5;
    if (!Number.isInteger(this.maxRedirects) || this.maxRedirects < 0) {
      throw new RangeError(`HubClient: maxRedirects must be a whole number >= 0, got ${options.maxRedirects}`);
    }
  }

  /** The commit a branch, tag or commit id points to. */
  async resolveCommit(repo: string, revision: string): Promise<string> {
    assertRepoId(repo);
    const url = `${this.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
    const response = await this.get(url, `${repo}@${revision}`);
    const body = (await response.json()) as { sha?: unknown };
    if (typeof body.sha !== 'string' || !/^[0-9a-f]{40}$/.test(body.sha)) {
      throw new HubError(`${url} did not return a commit id (is HF_ENDPOINT a Hugging Face Hub?)`);
    }
    return body.sha;
  }

  /**
   * Every file under `folder` ('' for the whole repository) at a commit. A file whose path is
   * unsafe to write (unsafePathReason) refuses the whole list.
   */
  async listFiles(repo: string, commit: string, folder: string): Promise<HubFile[]> {
    assertRepoId(repo);
    const suffix = folder === '' ? '' : `/${encodePath(folder)}`;
    const what = `${repo}@${commit.slice(0, 10)}${folder === '' ? '' : `:${folder}`}`;
    let url: string | undefined = `${this.endpoint}/api/models/${repo}/tree/${commit}${suffix}?recursive=true`;
    const files: HubFile[] = [];
    while (url) {
      const response = await this.get(url, what);
      const entries = (await response.json()) as Array<{
        type?: string;
        path?: string;
        size?: number;
        oid?: string;
        lfs?: { oid?: string; size?: number };
      }>;
      if (!Array.isArray(entries)) throw new HubError(`${url} did not return a file list`);
      for (const entry of entries) {
        if (entry.type !== 'file') continue;
        const size = entry.lfs?.size ?? entry.size;
        if (
          typeof entry.path !== 'string' ||
          typeof size !== 'number' ||
          !Number.isSafeInteger(size) ||
          size < 0 ||
          typeof entry.oid !== 'string'
        ) {
          throw new HubError(`${url} returned a file entry without a path, a size in bytes or an oid`);
        }
        const unsafe = unsafePathReason(entry.path);
        if (unsafe !== null)
          throw new UnsafePathError(
            `${what}: the file list has an unsafe path ${JSON.stringify(entry.path)} (${unsafe}); nothing was downloaded`,
          );
        files.push({ path: entry.path, size, sha256: entry.lfs?.oid, gitOid: entry.oid });
      }
      url = nextLink(response.headers.get('link'));
    }
    return files;
  }

  /**
   * Downloads `file` to `destination` through `destination.part`, resuming a `.part` left by
   * an interrupted run with an HTTP Range request, and checks its checksum before renaming.
   * Never writes more than the declared size: a body that goes past it is stopped at once, and
   * one that ends before it is an error too (SizeMismatchError, the `.part` deleted). An
   * intact file already at `destination` is kept (and a `.part` beside it deleted).
   */
  async downloadFile(
    repo: string,
    commit: string,
    file: HubFile,
    destination: string,
    options: DownloadOptions = {},
  ): Promise<DownloadOutcome> {
    const hash = new ContentHash(file);
    const part = `${destination}${PART_SUFFIX}`;
    if ((await fileSize(destination)) === file.size) {
      await hash.updateFromFile(destination);
      if (hash.digest() === hash.expected) {
        await rm(part, { force: true });
        options.onProgress?.(file.size);
        return 'present';
      }
      await rm(destination);
      hash.reset();
    }

    let offset = (await fileSize(part)) ?? 0;
    if (offset > file.size) {
      await rm(part);
      offset = 0;
    }
    if (offset > 0) await hash.updateFromFile(part);
    options.onProgress?.(offset);
    let resumed = offset > 0;

    if (offset < file.size) {
      const url = `${this.endpoint}/${repo}/resolve/${commit}/${encodePath(file.path)}`;
      const response = await this.get(url, file.path, offset > 0 ? { range: `bytes=${offset}-` } : {}, options.signal);
      if (offset > 0 && response.status !== 206) {
        // The server ignored the Range header and sends the whole file: start over.
        offset = 0;
        resumed = false;
        hash.reset();
      } else if (offset > 0 && !(response.headers.get('content-range') ?? '').startsWith(`bytes ${offset}-`)) {
        throw new HubError(
          `${file.path}: the server answered a resume request with the wrong range (${response.headers.get('content-range')})`,
        );
      }
      offset = await this.receive(response, part, offset, file, hash, options);
    }

    if (offset < file.size) {
      // The body ended cleanly (a broken connection is an error in receive): the server says
      // the file is shorter than the list declares, and resuming would not change that.
      await rm(part, { force: true });
      throw new SizeMismatchError(
        `${file.path}: the server ended the file after ${offset} of the ${file.size} bytes the file list declares; the partial file was deleted`,
      );
    }
    const actual = hash.digest();
    if (actual !== hash.expected) {
      await rm(part, { force: true });
      throw new ChecksumError(
        `${file.path}: ${hash.algorithm} mismatch (expected ${hash.expected}, got ${actual}); the file was deleted, run the command again`,
      );
    }
    await rename(part, destination);
    return resumed ? 'resumed' : 'downloaded';
  }

  /**
   * Appends the response body to `part` from `offset`, feeding the hash; returns the new size.
   * Stops reading (which closes the connection) and deletes `part` as soon as the body would
   * take the file past its declared size, so a broken or hostile mirror cannot fill the disk.
   */
  private async receive(
    response: Response,
    part: string,
    offset: number,
    file: HubFile,
    hash: ContentHash,
    options: DownloadOptions,
  ): Promise<number> {
    if (!response.body) throw new HubError(`${file.path}: the server sent no content`);
    const handle = await open(part, offset > 0 ? 'a' : 'w');
    let done = offset;
    let tooLong = false;
    try {
      const body: AsyncIterable<Uint8Array> = response.body;
      for await (const chunk of body) {
        if (done + chunk.byteLength > file.size) {
          tooLong = true;
          break;
        }
        hash.update(chunk);
        await handle.write(chunk);
        done += chunk.byteLength;
        options.onProgress?.(done);
      }
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new DownloadInterruptedError(
        `${file.path}: the connection broke after ${done} of ${file.size} bytes (${error instanceof Error ? error.message : String(error)}); run the same command again to resume`,
      );
    } finally {
      await handle.close();
    }
    if (tooLong) {
      await rm(part, { force: true });
      throw new SizeMismatchError(
        `${file.path}: the server sent more than the ${file.size} bytes the file list declares; the download was stopped and the partial file deleted`,
      );
    }
    return done;
  }

  /** GET with redirects followed by hand, so the token never leaves the hub's origin. */
  private async get(url: string, what: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    let current = url;
    for (let redirects = 0; ; redirects++) {
      const sameOrigin = new URL(current).origin === this.origin;
      let response: Response;
      try {
        response = await fetch(current, {
          headers: { ...headers, ...(this.token && sameOrigin ? { authorization: `Bearer ${this.token}` } : {}) },
          redirect: 'manual',
          signal,
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
        throw new HubUnreachableError(`${what}: cannot reach ${new URL(current).host} (${cause})`);
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        if (redirects >= this.maxRedirects) throw new HubError(`${what}: more than ${this.maxRedirects} redirects`);
        current = new URL(location, current).toString();
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw httpError(response, current, what, this.token !== undefined);
      }
      return response;
    }
  }
}

function httpError(response: Response, url: string, what: string, hasToken: boolean): HubHttpError {
  const detail = response.headers.get('x-error-message');
  const suffix = detail ? ` (${detail})` : '';
  const status = response.status;
  let message: string;
  if (status === 401) {
    message = hasToken
      ? `${what}: the hub refused HF_TOKEN (401): check that the token is valid and can read this repository${suffix}`
      : `${what}: not found or private (401): check the repository id, or set HF_TOKEN for a private or gated repository${suffix}`;
  } else if (status === 403) {
    message = `${what}: access denied (403): for a gated model, accept its terms on the hub page with the account of HF_TOKEN${suffix}`;
  } else if (status === 404) {
    message = `${what}: not found (404): check the repository id, the revision and the subfolder${suffix}`;
  } else if (status === 416) {
    message = `${what}: the server refused the resume range (416); delete the .part file and run again${suffix}`;
  } else if (status === 429) {
    message = `${what}: rate limited by the hub (429); wait a few minutes, or set HF_TOKEN${suffix}`;
  } else {
    message = `${what}: HTTP ${status} from ${new URL(url).host}${suffix}`;
  }
  return new HubHttpError(status, url, message);
}
