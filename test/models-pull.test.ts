// models:pull against a fake Hugging Face Hub on loopback: the hub API and `resolve` on one
// origin, LFS content behind a redirect on a second origin (like the hub's CDN).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { at, u8At } from '../src/checked.js';
import { modelsPull } from '../src/cli/models-pull.js';
import { HubClient } from '../src/hub/client.js';
import {
  ChecksumError,
  DownloadInterruptedError,
  HubError,
  HubHttpError,
  HubUnreachableError,
  InsufficientSpaceError,
  SizeMismatchError,
  UnsafePathError,
} from '../src/hub/errors.js';
import { createProgress, formatBytes, type PullProgress } from '../src/hub/progress.js';
import { availableBytes, FREE_SPACE_MARGIN_BYTES, isPipelineFile, pullModel, SOURCE_FILE, STALE_PART_AGE_MS } from '../src/hub/pull.js';
import { freePort } from './support/ports.js';

const COMMIT = 'c0ffee0000000000000000000000000000000001';

interface LoggedRequest {
  origin: 'hub' | 'cdn';
  path: string;
  range?: string;
  authorization?: string;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const gitBlobSha1 = (data: Buffer) => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
// As on the hub: ONNX weights and anything large live in LFS, small text files in git.
const isLfs = (path: string, data: Buffer) => /\.(onnx|onnx_data|pb)$/.test(path) || data.length > 100_000;

/** A fake hub serving repositories from memory, with faults to inject. */
class FakeHub {
  readonly repos = new Map<string, Map<string, Buffer>>();
  readonly requests: LoggedRequest[] = [];
  /** Repository paths whose next download stops halfway through (then the flag clears). */
  readonly cutOnce = new Set<string>();
  /** Repository paths whose next download gets this HTTP status instead (then the entry clears). */
  readonly failOnce = new Map<string, number>();
  /** Repository paths served with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Repositories that answer only with this bearer token. */
  readonly privateRepos = new Map<string, string>();
  /** Sizes the file list declares instead of the real ones, by repository path. */
  readonly declaredSizes = new Map<string, number>();
  /** Repository paths served with endless bytes after their content (up to FLOOD_LIMIT), like a hostile mirror. */
  readonly flood = new Set<string>();
  /** Bytes a flood has sent so far, and whether its connection is still open. */
  floodSent = 0;
  floodOpen = false;
  /** Repository paths served cleanly with only their first half (a Content-Length to match). */
  readonly truncate = new Set<string>();
  /** Tree entries per page (the hub pages with a Link header). */
  pageSize = 4;
  private hub!: Server;
  private cdn!: Server;
  url = '';
  cdnUrl = '';

  async start(): Promise<void> {
    this.hub = createServer((req, res) => this.onHub(req, res));
    this.cdn = createServer((req, res) => this.onCdn(req, res));
    this.url = await listen(this.hub);
    this.cdnUrl = await listen(this.cdn);
  }

  async stop(): Promise<void> {
    this.hub.closeAllConnections();
    this.cdn.closeAllConnections();
    await Promise.all([new Promise((r) => this.hub.close(r)), new Promise((r) => this.cdn.close(r))]);
  }

  private log(origin: 'hub' | 'cdn', req: IncomingMessage): void {
    this.requests.push({
      origin,
      path: decodeURIComponent(req.url ?? ''),
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
  }

  private onHub(req: IncomingMessage, res: ServerResponse): void {
    this.log('hub', req);
    const url = new URL(req.url ?? '/', this.url);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repoId = api?.[1] ?? resolve?.[1] ?? '';
    const files = this.repos.get(repoId);
    const token = this.privateRepos.get(repoId);
    if (!files || (token !== undefined && req.headers.authorization !== `Bearer ${token}`)) {
      res.writeHead(401, { 'x-error-message': 'Invalid username or password.' }).end();
      return;
    }
    if (api?.[2] === 'revision') {
      if (api[3] !== 'main' && api[3] !== COMMIT) return void res.writeHead(404, { 'x-error-message': 'Invalid rev id' }).end();
      return void json(res, { id: repoId, sha: COMMIT });
    }
    if (api?.[2] === 'tree') {
      const folder = api[4] ? `${decodeURIComponent(api[4])}/` : '';
      const entries = [...files]
        .filter(([path]) => path.startsWith(folder))
        .map(([path, data]) => {
          const size = this.declaredSizes.get(path) ?? data.length;
          return {
            type: 'file',
            path,
            size,
            oid: isLfs(path, data)
              ? gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(data)}\n`))
              : gitBlobSha1(data),
            ...(isLfs(path, data) ? { lfs: { oid: sha256(data), size, pointerSize: 134 } } : {}),
          };
        });
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(start, start + this.pageSize);
      const headers: Record<string, string> = {};
      if (start + this.pageSize < entries.length) {
        headers.link = `<${this.url}${url.pathname}?recursive=true&cursor=${start + this.pageSize}>; rel="next"`;
      }
      return void json(res, page, headers);
    }
    if (resolve) {
      const path = decodeURIComponent(at(resolve, 3));
      const data = files.get(path);
      if (!data) return void res.writeHead(404, { 'x-error-message': 'Entry not found' }).end();
      if (isLfs(path, data)) {
        return void res
          .writeHead(302, { location: `${this.cdnUrl}/lfs/${encodeURIComponent(repoId)}/${encodeURIComponent(path)}?sig=abc` })
          .end();
      }
      return void this.sendFile(req, res, path, data);
    }
    res.writeHead(404).end();
  }

  private onCdn(req: IncomingMessage, res: ServerResponse): void {
    this.log('cdn', req);
    const match = /^\/lfs\/([^/]+)\/([^?]+)/.exec(req.url ?? '');
    const path = decodeURIComponent(match?.[2] ?? '');
    const data = this.repos.get(decodeURIComponent(match?.[1] ?? ''))?.get(path);
    if (!data) return void res.writeHead(404).end();
    this.sendFile(req, res, path, data);
  }

  private sendFile(req: IncomingMessage, res: ServerResponse, path: string, original: Buffer): void {
    const failure = this.failOnce.get(path);
    if (failure !== undefined) {
      this.failOnce.delete(path);
      return void res.writeHead(failure).end();
    }
    if (this.flood.has(path)) return void this.sendFlood(res, original);
    let data = original;
    if (this.truncate.has(path)) data = original.subarray(0, original.length >> 1);
    if (this.corrupt.has(path)) {
      data = Buffer.from(original);
      const middle = data.length >> 1;
      data[middle] = u8At(data, middle) ^ 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const body = data.subarray(start);
    res.writeHead(range ? 206 : 200, {
      'content-length': String(body.length),
      ...(range ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    if (this.cutOnce.delete(path)) {
      // Half the bytes, then the connection drops.
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.destroy(), 30));
      return;
    }
    res.end(body);
  }

  /** The content, then more bytes until the client goes away or FLOOD_LIMIT is reached. */
  private sendFlood(res: ServerResponse, data: Buffer): void {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    this.floodSent = 0;
    this.floodOpen = true;
    res.on('close', () => (this.floodOpen = false));
    res.writeHead(200);
    res.write(data);
    const pump = () => {
      while (!res.destroyed && this.floodSent < FLOOD_LIMIT) {
        this.floodSent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  }
}

const FLOOD_LIMIT = 256 * 1024 * 1024;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

function json(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** Every file under a folder, by path relative to it. */
function readTree(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.set(relative(root, full), readFileSync(full));
    }
  };
  walk(root);
  return files;
}

/** A generated export in onnx/ (random bytes: enough for the transfer tests), plus files to skip. */
function syntheticRepo(): Map<string, Buffer> {
  const text = (s: string) => Buffer.from(s);
  return new Map<string, Buffer>([
    ['README.md', text('# tiny\n')],
    ['unet/diffusion_pytorch_model.safetensors', randomBytes(5000)],
    ['onnx/model_index.json', text('{"_class_name":"OnnxStableDiffusionPipeline"}\n')],
    ['onnx/scheduler/scheduler_config.json', text('{"_class_name":"PNDMScheduler"}\n')],
    ['onnx/tokenizer/vocab.json', text('{"a</w>":0}\n')],
    ['onnx/tokenizer/merges.txt', text('#version: 0.2\n')],
    ['onnx/text_encoder/config.json', text('{}\n')],
    ['onnx/text_encoder/model.onnx', randomBytes(40_000)],
    ['onnx/unet/config.json', text('{"sample_size":64}\n')],
    ['onnx/unet/model.onnx', randomBytes(30_000)],
    ['onnx/unet/model.onnx_data', randomBytes(3_000_000)],
    ['onnx/unet/model.fp16.onnx', randomBytes(1000)],
    ['onnx/vae_decoder/model.onnx', randomBytes(20_000)],
    ['onnx/safety_checker/model.onnx', randomBytes(10_000)],
    ['onnx/feature_extractor/preprocessor_config.json', text('{}\n')],
  ]);
}

/** What a pull of syntheticRepo's onnx/ writes (besides SOURCE_FILE). */
const PULLED_FILES = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'text_encoder/config.json',
  'text_encoder/model.onnx',
  'tokenizer/merges.txt',
  'tokenizer/vocab.json',
  'unet/config.json',
  'unet/model.onnx',
  'unet/model.onnx_data',
  'vae_decoder/model.onnx',
];

const silentProgress: PullProgress = { fileStart() {}, fileProgress() {}, fileDone() {}, note() {} };

function capture(isTTY = false) {
  const chunks: string[] = [];
  return { isTTY, columns: 120, write: (text: string) => void chunks.push(text), text: () => chunks.join('') };
}

let hub: FakeHub;
let work: string;

beforeAll(async () => {
  hub = new FakeHub();
  hub.repos.set('acme/tiny-sd', syntheticRepo());
  await hub.start();
});

afterAll(async () => {
  await hub.stop();
});

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'models-pull-'));
  hub.requests.length = 0;
  hub.cutOnce.clear();
  hub.failOnce.clear();
  hub.corrupt.clear();
  hub.declaredSizes.clear();
  hub.flood.clear();
  hub.truncate.clear();
});

afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('isPipelineFile', () => {
  it('keeps what the pipeline loads and nothing else', () => {
    const keep = [
      'model_index.json',
      'unet/config.json',
      'scheduler/scheduler_config.json',
      'tokenizer/merges.txt',
      'unet/model.onnx',
      'unet/model.onnx_data',
      'unet/weights.pb',
      'vae_encoder/model.onnx',
      'latent_preview.json',
    ];
    const skip = [
      'README.md',
      'unet/model.fp16.onnx',
      'safety_checker/model.onnx',
      'feature_extractor/preprocessor_config.json',
      'unet/diffusion_pytorch_model.safetensors',
      'onnx/unet/model.onnx',
      'config.json',
    ];
    expect(keep.filter((p) => !isPipelineFile(p))).toEqual([]);
    expect(skip.filter((p) => isPipelineFile(p))).toEqual([]);
  });
});

describe('pullModel', () => {
  const client = () => new HubClient({ endpoint: hub.url, token: 'hf_test_token_123' });

  it('downloads only the pipeline files of the subfolder, checks them, and records the source', async () => {
    const destination = join(work, 'tiny');
    const result = await pullModel({ client: client(), repo: 'acme/tiny-sd', subfolder: 'onnx', destination, progress: silentProgress });
    const source = hub.repos.get('acme/tiny-sd')!;
    const expected = PULLED_FILES;
    expect([...readTree(destination).keys()].sort()).toEqual([SOURCE_FILE, ...expected].sort());
    for (const path of expected) expect(readFileSync(join(destination, path)).equals(source.get(`onnx/${path}`)!), path).toBe(true);
    expect(result.commit).toBe(COMMIT);
    expect(result.files.every((f) => f.outcome === 'downloaded')).toBe(true);
    const record = JSON.parse(readFileSync(join(destination, SOURCE_FILE), 'utf8'));
    expect(record).toMatchObject({ repo: 'acme/tiny-sd', revision: 'main', commit: COMMIT, subfolder: 'onnx' });
    expect(record.files.find((f: { path: string }) => f.path === 'unet/model.onnx_data').sha256).toBe(
      sha256(source.get('onnx/unet/model.onnx_data')!),
    );
    // Paged listing followed; the token went to the hub and never to the CDN.
    expect(hub.requests.filter((r) => r.path.includes('/tree/')).length).toBeGreaterThan(2);
    expect(hub.requests.filter((r) => r.origin === 'hub').every((r) => r.authorization === 'Bearer hf_test_token_123')).toBe(true);
    const cdn = hub.requests.filter((r) => r.origin === 'cdn');
    expect(cdn.length).toBe(4);
    expect(cdn.every((r) => r.authorization === undefined)).toBe(true);
  });

  it('keeps intact files on a second run and downloads nothing', async () => {
    const destination = join(work, 'tiny');
    await pullModel({ client: client(), repo: 'acme/tiny-sd', subfolder: 'onnx', destination, progress: silentProgress });
    hub.requests.length = 0;
    const again = await pullModel({ client: client(), repo: 'acme/tiny-sd', subfolder: 'onnx', destination, progress: silentProgress });
    expect(again.files.every((f) => f.outcome === 'present')).toBe(true);
    expect(hub.requests.filter((r) => r.path.includes('/resolve/') || r.origin === 'cdn')).toEqual([]);
  });

  it('resumes an interrupted transfer with a Range request on the next run', async () => {
    const destination = join(work, 'tiny');
    const data = hub.repos.get('acme/tiny-sd')!.get('onnx/unet/model.onnx_data')!;
    hub.cutOnce.add('onnx/unet/model.onnx_data');
    const first = pullModel({
      client: client(),
      repo: 'acme/tiny-sd',
      subfolder: 'onnx',
      destination,
      progress: silentProgress,
      retries: 0,
    });
    await expect(first).rejects.toThrow(DownloadInterruptedError);
    await expect(first).rejects.toThrow(
      /^onnx\/unet\/model\.onnx_data: the connection broke after \d+ of 3000000 bytes .*; run the same command again to resume$/,
    );
    const part = join(destination, 'unet/model.onnx_data.part');
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(data.length);
    expect(existsSync(join(destination, 'unet/model.onnx_data'))).toBe(false);

    hub.requests.length = 0;
    const second = await pullModel({
      client: client(),
      repo: 'acme/tiny-sd',
      subfolder: 'onnx',
      destination,
      progress: silentProgress,
      retries: 0,
    });
    expect(second.files.find((f) => f.localPath === 'unet/model.onnx_data')?.outcome).toBe('resumed');
    expect(hub.requests.filter((r) => r.origin === 'cdn' && r.path.includes('model.onnx_data')).map((r) => r.range)).toEqual([
      `bytes=${kept}-`,
    ]);
    expect(readFileSync(join(destination, 'unet/model.onnx_data')).equals(data)).toBe(true);
    expect(existsSync(part)).toBe(false);
  });

  it('retries a broken transfer within one run, resuming where it stopped', async () => {
    const destination = join(work, 'tiny');
    hub.cutOnce.add('onnx/unet/model.onnx_data');
    const progress = capture();
    const result = await pullModel({
      client: client(),
      repo: 'acme/tiny-sd',
      subfolder: 'onnx',
      destination,
      progress: createProgress(progress),
      retryDelayMs: 0,
    });
    expect(result.files.find((f) => f.localPath === 'unet/model.onnx_data')?.outcome).toBe('resumed');
    expect(progress.text()).toMatch(
      /onnx\/unet\/model\.onnx_data: the connection broke after \d+ of 3000000 bytes .*; resuming in 0 s \(retry 1 of 3\)/,
    );
    const ranges = hub.requests.filter((r) => r.path.includes('model.onnx_data')).map((r) => r.range);
    expect(ranges[ranges.length - 1]).toMatch(/^bytes=\d+-$/);
    expect(sha256(readFileSync(join(destination, 'unet/model.onnx_data')))).toBe(
      sha256(hub.repos.get('acme/tiny-sd')!.get('onnx/unet/model.onnx_data')!),
    );
  });

  it('retries a server error, and gives up on it after the retries', async () => {
    const destination = join(work, 'tiny');
    hub.failOnce.set('onnx/text_encoder/model.onnx', 503);
    const progress = capture();
    await pullModel({
      client: client(),
      repo: 'acme/tiny-sd',
      subfolder: 'onnx',
      destination,
      progress: createProgress(progress),
      retryDelayMs: 0,
    });
    expect(progress.text()).toContain('onnx/text_encoder/model.onnx: HTTP 503 from 127.0.0.1');
    hub.failOnce.set('onnx/vae_decoder/model.onnx', 502);
    rmSync(join(destination, 'vae_decoder'), { recursive: true });
    await expect(
      pullModel({ client: client(), repo: 'acme/tiny-sd', subfolder: 'onnx', destination, progress: silentProgress, retries: 0 }),
    ).rejects.toThrow(/^onnx\/vae_decoder\/model\.onnx: HTTP 502 from 127\.0\.0\.1:\d+$/);
  });

  it('deletes a file whose SHA-256 does not match the hub and fails clearly', async () => {
    const destination = join(work, 'tiny');
    const data = hub.repos.get('acme/tiny-sd')!.get('onnx/unet/model.onnx')!;
    hub.corrupt.add('onnx/unet/model.onnx');
    const run = pullModel({ client: client(), repo: 'acme/tiny-sd', subfolder: 'onnx', destination, progress: silentProgress });
    await expect(run).rejects.toThrow(ChecksumError);
    await expect(run).rejects.toThrow(
      new RegExp(
        `^onnx/unet/model\\.onnx: SHA-256 mismatch \\(expected ${sha256(data)}, got [0-9a-f]{64}\\); the file was deleted, run the command again$`,
      ),
    );
    expect(existsSync(join(destination, 'unet/model.onnx'))).toBe(false);
    expect(existsSync(join(destination, 'unet/model.onnx.part'))).toBe(false);
  });

  it('checks small git files against their git blob id', async () => {
    const destination = join(work, 'tiny');
    hub.corrupt.add('onnx/unet/config.json');
    await expect(
      pullModel({ client: client(), repo: 'acme/tiny-sd', subfolder: 'onnx', destination, progress: silentProgress }),
    ).rejects.toThrow(/^onnx\/unet\/config\.json: git SHA-1 mismatch/);
  });

  it('explains a missing repository, a private one, a bad revision and a folder that is not an export', async () => {
    const pull = (repo: string, extra: { revision?: string; subfolder?: string; token?: string } = {}) =>
      pullModel({
        client: new HubClient({ endpoint: hub.url, token: extra.token }),
        repo,
        revision: extra.revision,
        subfolder: extra.subfolder,
        destination: join(work, 'x'),
        progress: silentProgress,
      });
    await expect(pull('acme/nothing')).rejects.toThrow(
      'acme/nothing@main: not found or private (401): check the repository id, or set HF_TOKEN for a private or gated repository (Invalid username or password.)',
    );
    hub.repos.set('acme/secret', syntheticRepo());
    hub.privateRepos.set('acme/secret', 'right-token');
    await expect(pull('acme/secret', { subfolder: 'onnx', token: 'wrong-token' })).rejects.toThrow(/the hub refused HF_TOKEN \(401\)/);
    await expect(pull('acme/secret', { subfolder: 'onnx', token: 'right-token' })).resolves.toMatchObject({ commit: COMMIT });
    const badRevision = pull('acme/tiny-sd', { revision: 'v9' });
    await expect(badRevision).rejects.toThrow(HubHttpError);
    await expect(badRevision).rejects.toThrow(
      'acme/tiny-sd@v9: not found (404): check the repository id, the revision and the subfolder (Invalid rev id)',
    );
    await expect(pull('acme/tiny-sd')).rejects.toThrow(
      'acme/tiny-sd@main is not a diffusers ONNX export: no model_index.json and */model.onnx found (this repository has an onnx/ folder: add --subfolder onnx)',
    );
    await expect(pull('../etc')).rejects.toThrow(HubError);
    const closedPort = await freePort();
    const unreachable = pullModel({
      client: new HubClient({ endpoint: `http://127.0.0.1:${closedPort}` }),
      repo: 'acme/tiny-sd',
      destination: join(work, 'x'),
      progress: silentProgress,
    });
    await expect(unreachable).rejects.toThrow(HubUnreachableError);
    await expect(unreachable).rejects.toThrow(
      `acme/tiny-sd@main: cannot reach 127.0.0.1:${closedPort} (connect ECONNREFUSED 127.0.0.1:${closedPort})`,
    );
  });
});

describe('a pull stays in its folder and cannot fill the disk', () => {
  const client = () => new HubClient({ endpoint: hub.url });
  const source = () => hub.repos.get('acme/tiny-sd')!;
  const pull = (extra: Partial<Parameters<typeof pullModel>[0]> = {}) =>
    pullModel({
      client: client(),
      repo: 'acme/tiny-sd',
      subfolder: 'onnx',
      destination: join(work, 'models', 'tiny'),
      progress: silentProgress,
      retryDelayMs: 0,
      ...extra,
    });
  const downloads = () => hub.requests.filter((r) => r.path.includes('/resolve/') || r.origin === 'cdn');

  it.each([
    ['../model.onnx', 'a ".." segment'],
    ['onnx/../model.onnx', 'a ".." segment'],
    ['/etc/x', 'an absolute path'],
    ['a\\b', 'a backslash'],
    ['onnx/./unet/model.onnx', 'a "." segment'],
    ['onnx//unet/model.onnx', 'an empty segment'],
    ['onnx/unet/model.onnx\u0000', 'a control character'],
    ['onnx/unet/\nconfig.json', 'a control character'],
  ])('refuses the whole pull for the entry %j (%s), before writing anything', async (entry, reason) => {
    const repo = `acme/unsafe-${createHash('sha1').update(entry).digest('hex').slice(0, 8)}`;
    hub.repos.set(repo, new Map([...syntheticRepo(), [entry, Buffer.from('x')]]));
    const run = pullModel({ client: client(), repo, destination: join(work, 'models', 'tiny'), progress: silentProgress });
    await expect(run).rejects.toThrow(UnsafePathError);
    await expect(run).rejects.toThrow(
      `${repo}@${COMMIT.slice(0, 10)}: the file list has an unsafe path ${JSON.stringify(entry)} (${reason}); nothing was downloaded`,
    );
    expect(downloads()).toEqual([]);
    expect(readdirSync(work)).toEqual([]);
  });

  it('refuses a subfolder outside the repository', async () => {
    await expect(pull({ subfolder: 'onnx/../..' })).rejects.toThrow(
      'subfolder "onnx/../.." is not a folder inside the repository (a ".." segment)',
    );
    expect(hub.requests).toEqual([]);
  });

  it.each([
    ['sends bytes past the end of the file', () => hub.flood.add('onnx/unet/model.onnx')],
    ['sends a file larger than the list declares', () => hub.declaredSizes.set('onnx/unet/model.onnx', 29_000)],
  ])('stops at once when a server %s, and deletes the partial file', async (_label, fault) => {
    fault();
    const declared = hub.declaredSizes.get('onnx/unet/model.onnx') ?? 30_000;
    let mostOnDisk = 0;
    const progress: PullProgress = {
      ...silentProgress,
      fileProgress: (path, done) => void (path === 'unet/model.onnx' && (mostOnDisk = Math.max(mostOnDisk, done))),
    };
    const run = pull({ progress });
    await expect(run).rejects.toThrow(SizeMismatchError);
    await expect(run).rejects.toThrow(
      `onnx/unet/model.onnx: the server sent more than the ${declared} bytes the file list declares; the download was stopped and the partial file deleted`,
    );
    expect(mostOnDisk).toBeLessThanOrEqual(declared);
    expect(existsSync(join(work, 'models', 'tiny', 'unet', 'model.onnx.part'))).toBe(false);
    expect(existsSync(join(work, 'models', 'tiny', 'unet', 'model.onnx'))).toBe(false);
    // Not retried: the same server would send the same bytes.
    expect(hub.requests.filter((r) => r.origin === 'cdn' && r.path.includes('/onnx/unet/model.onnx?'))).toHaveLength(1);
    if (hub.flood.size > 0) {
      // The client closed the connection long before the flood's end.
      await vi.waitFor(() => expect(hub.floodOpen).toBe(false));
      expect(hub.floodSent).toBeLessThan(FLOOD_LIMIT / 4);
    }
  });

  it('fails on a file that ends before its declared size, and deletes the partial file', async () => {
    hub.truncate.add('onnx/unet/model.onnx');
    const run = pull();
    await expect(run).rejects.toThrow(SizeMismatchError);
    await expect(run).rejects.toThrow(
      'onnx/unet/model.onnx: the server ended the file after 15000 of the 30000 bytes the file list declares; the partial file was deleted',
    );
    expect(existsSync(join(work, 'models', 'tiny', 'unet', 'model.onnx.part'))).toBe(false);
    expect(hub.requests.filter((r) => r.origin === 'cdn' && r.path.includes('/onnx/unet/model.onnx?'))).toHaveLength(1);
  });

  it('checks the free space before downloading: the bytes not on disk yet and a margin', async () => {
    const destination = join(work, 'models', 'tiny');
    const sizes = new Map(PULLED_FILES.map((path) => [path, source().get(`onnx/${path}`)!.length]));
    const all = [...sizes.values()].reduce((a, b) => a + b, 0);
    const asked: string[] = [];
    const nearlyFull = (dir: string) => {
      asked.push(dir);
      return Promise.resolve(all + FREE_SPACE_MARGIN_BYTES - 1);
    };
    const refused = pull({ freeSpace: nearlyFull });
    await expect(refused).rejects.toThrow(InsufficientSpaceError);
    await expect(refused).rejects.toThrow(
      `not enough free space for ${destination}: the download needs ${formatBytes(all + FREE_SPACE_MARGIN_BYTES)} (${formatBytes(all)} of files and a ${formatBytes(FREE_SPACE_MARGIN_BYTES)} margin), ${formatBytes(all + FREE_SPACE_MARGIN_BYTES - 1)} is free`,
    );
    expect(asked).toEqual([destination]);
    expect(downloads()).toEqual([]);
    expect(existsSync(destination)).toBe(false);

    // Files already there and the bytes of a .part do not count.
    hub.cutOnce.add('onnx/unet/model.onnx_data');
    await expect(pull({ retries: 0 })).rejects.toThrow(DownloadInterruptedError);
    let missing = 0;
    for (const [path, size] of sizes) {
      if (existsSync(join(destination, path))) continue;
      missing += size - (existsSync(join(destination, `${path}.part`)) ? statSync(join(destination, `${path}.part`)).size : 0);
    }
    expect(missing).toBeGreaterThan(0);
    expect(missing).toBeLessThan(sizes.get('unet/model.onnx_data')!);
    const error = await pull({ freeSpace: () => Promise.resolve(0) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientSpaceError);
    expect(error).toMatchObject({ neededBytes: missing + FREE_SPACE_MARGIN_BYTES, availableBytes: 0 });
    // With enough space it completes, and a complete folder needs none.
    await pull({ freeSpace: () => Promise.resolve(missing + FREE_SPACE_MARGIN_BYTES) });
    await expect(pull({ freeSpace: () => Promise.resolve(0) })).resolves.toMatchObject({ commit: COMMIT });
  });

  it('measures the free space with statfs (a file list declaring petabytes is refused)', async () => {
    hub.declaredSizes.set('onnx/unet/model.onnx_data', 5e15);
    await expect(pull()).rejects.toThrow(
      /^not enough free space for .*: the download needs 5000\.0 TB \(5000\.0 TB of files and a 100\.0 MB margin\), [\d.]+ [kMGT]?B is free$/,
    );
    const free = await availableBytes(join(work, 'not', 'made', 'yet'));
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThan(5e15);
  });

  it('deletes abandoned .part files and resumes the ones of files being downloaded', async () => {
    const destination = join(work, 'models', 'tiny');
    const write = (path: string, data: Buffer, ageMs = 0) => {
      mkdirSync(dirname(join(destination, path)), { recursive: true });
      writeFileSync(join(destination, path), data);
      const time = new Date(Date.now() - ageMs);
      utimesSync(join(destination, path), time, time);
    };
    const weights = source().get('onnx/unet/model.onnx_data')!;
    write('unet/model.onnx_data.part', weights.subarray(0, 1_000_000), STALE_PART_AGE_MS / 2);
    write('text_encoder/model.onnx.part', source().get('onnx/text_encoder/model.onnx')!.subarray(0, 1000), STALE_PART_AGE_MS + 60_000);
    write('unet/model.fp16.onnx.part', Buffer.alloc(2000));
    write('safety_checker/model.onnx.part', Buffer.alloc(3000));
    write('notes.txt.part.txt', Buffer.from('not a part file'));
    const progress = capture();
    const result = await pull({ progress: createProgress(progress) });

    expect(progress.text()).toContain('removed text_encoder/model.onnx.part (1.00 kB): not written to for more than 7 days\n');
    expect(progress.text()).toContain('removed unet/model.fp16.onnx.part (2.00 kB): its file is not in the file list\n');
    expect(progress.text()).toContain('removed safety_checker/model.onnx.part (3.00 kB): its file is not in the file list\n');
    expect(result.files.find((f) => f.localPath === 'unet/model.onnx_data')?.outcome).toBe('resumed');
    expect(hub.requests.filter((r) => r.path.includes('model.onnx_data')).map((r) => r.range)).toEqual([
      'bytes=1000000-',
      'bytes=1000000-',
    ]);
    expect(hub.requests.filter((r) => r.path.includes('text_encoder/model.onnx')).map((r) => r.range)).toEqual([undefined, undefined]);
    expect(readFileSync(join(destination, 'unet/model.onnx_data')).equals(weights)).toBe(true);
    expect([...readTree(destination).keys()].sort()).toEqual([SOURCE_FILE, 'notes.txt.part.txt', ...PULLED_FILES].sort());

    // A .part beside a complete file is left over from an older run: deleted too.
    write('unet/config.json.part', Buffer.from('{'));
    await pull();
    expect(existsSync(join(destination, 'unet/config.json.part'))).toBe(false);
  });
});

describe('progress output', () => {
  it('draws a bar in place on a terminal', () => {
    const out = capture(true);
    let t = 0;
    const progress = createProgress(out, { now: () => t });
    progress.fileStart('unet/model.onnx', 2_000_000);
    progress.fileProgress('unet/model.onnx', 0);
    t = 1000;
    progress.fileProgress('unet/model.onnx', 1_000_000);
    progress.fileProgress('unet/model.onnx', 1_000_001); // within the redraw interval: skipped
    progress.fileDone('unet/model.onnx', 'downloaded');
    const text = out.text();
    expect(text).toContain('\r\x1b[K[############............]  50% 1.00 MB/2.00 MB 1.00 MB/s unet/model.onnx');
    // eslint-disable-next-line no-control-regex -- the progress line's ANSI escape is what is counted
    expect(text.match(/\r\x1b\[K\[/g)).toHaveLength(2);
    expect(text.endsWith('\r\x1b[Kdownloaded unet/model.onnx (2.00 MB)\n')).toBe(true);
  });

  it('writes plain lines elsewhere: one per file, and one per 10% of large files', () => {
    const out = capture(false);
    const progress = createProgress(out);
    progress.fileStart('unet/model.onnx_data', 100_000_000);
    for (let done = 0; done <= 100_000_000; done += 5_000_000) progress.fileProgress('unet/model.onnx_data', done);
    progress.fileDone('unet/model.onnx_data', 'downloaded');
    const lines = out.text().trimEnd().split('\n');
    expect(lines[0]).toBe('fetching   unet/model.onnx_data (100.0 MB)');
    expect(lines.slice(1, -1)).toHaveLength(9);
    expect(lines[1]).toBe('           unet/model.onnx_data 10% (10.0 MB)');
    expect(lines[lines.length - 1]).toBe('downloaded unet/model.onnx_data (100.0 MB)');
    expect(out.text()).not.toContain('\r');
  });

  it('formats sizes in decimal units', () => {
    expect([formatBytes(999), formatBytes(1500), formatBytes(3_440_000_000)]).toEqual(['999 B', '1.50 kB', '3.44 GB']);
  });
});

describe('npm run models:pull', () => {
  // A real (tiny) ONNX export with its UNet weights in model.onnx_data.
  const model = join(import.meta.dirname, 'fixtures', 'onnx-variants', 'external-data-onnx-data');

  beforeAll(() => {
    // Published under onnx/ next to files the command must skip.
    const files = new Map([...readTree(model)].map(([path, data]) => [`onnx/${path}`, data]));
    files.set('README.md', Buffer.from('# shapes\n'));
    hub.repos.set('acme/shapes', files);
    const broken = new Map(files);
    broken.delete('onnx/unet/model.onnx');
    hub.repos.set('acme/shapes-broken', broken);
  });

  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const stdout = capture();
    const stderr = capture();
    const code = await modelsPull(argv, { env: { HF_ENDPOINT: hub.url, MODELS_DIR: work, ...env }, stdout, stderr }, { retryDelayMs: 0 });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };

  it('pulls an export into MODELS_DIR/<name> and the pipeline loads it', async () => {
    const result = await run(['acme/shapes', '--subfolder', 'onnx']);
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^model shapes: 64x64 native, default sampler \w+, img2img yes, hash [0-9a-f]{12}\n/);
    expect(result.stdout).toContain(`ready: ${join(work, 'shapes')} (`);
    expect(result.stderr).toContain('downloaded unet/model.onnx_data (');
    const pulled = readTree(join(work, 'shapes'));
    for (const [path, data] of readTree(model)) {
      if (isPipelineFile(path)) expect(pulled.get(path)?.equals(data), path).toBe(true);
    }
  });

  it('fails with the loader message when the downloaded folder does not load', async () => {
    const result = await run(['acme/shapes-broken', '--subfolder', 'onnx', '--name', 'broken']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: the files were downloaded but the pipeline cannot load them: .*missing unet\/model\.onnx/);
  });

  it('reports an unsafe file list, a flooding server, a bad subfolder and an unusable MODELS_DIR in one line, never a stack trace', async () => {
    const errorLines = (result: { stderr: string }) => result.stderr.split('\n').filter((line) => line.startsWith('error:'));
    hub.repos.set('acme/escape', new Map([...hub.repos.get('acme/shapes')!, ['onnx/../model.onnx', Buffer.from('x')]]));
    const escape = await run(['acme/escape', '--subfolder', 'onnx']);
    expect(errorLines(escape)).toEqual([
      `error: acme/escape@${COMMIT.slice(0, 10)}:onnx: the file list has an unsafe path "onnx/../model.onnx" (a ".." segment); nothing was downloaded`,
    ]);
    expect(readdirSync(work)).toEqual([]);

    hub.flood.add('onnx/unet/model.onnx');
    const flooded = await run(['acme/shapes', '--subfolder', 'onnx', '--name', 'flooded']);
    const declared = readTree(model).get('unet/model.onnx')!.length;
    expect(errorLines(flooded)).toEqual([
      `error: onnx/unet/model.onnx: the server sent more than the ${declared} bytes the file list declares; the download was stopped and the partial file deleted`,
    ]);

    const subfolder = await run(['acme/shapes', '--subfolder', '../onnx']);
    expect(errorLines(subfolder)).toEqual(['error: subfolder "../onnx" is not a folder inside the repository (a ".." segment)']);

    writeFileSync(join(work, 'a-file'), '');
    const notAFolder = await run(['acme/shapes', '--subfolder', 'onnx'], { MODELS_DIR: join(work, 'a-file') });
    expect(errorLines(notAFolder)).toEqual([`error: ENOTDIR: not a directory, scandir '${join(work, 'a-file', 'shapes')}'`]);

    for (const result of [escape, flooded, subfolder, notAFolder]) {
      expect(result.code).toBe(1);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('reports usage and configuration mistakes without a stack trace', async () => {
    expect((await run([])).stderr).toMatch(/^error: missing the hub repository id\nusage: npm run models:pull/);
    expect((await run([])).code).toBe(2);
    expect((await run(['a/b', '--name', '../up'])).code).toBe(2);
    expect((await run(['a/b', '--bogus'])).stderr).toContain("Unknown option '--bogus'");
    const badEnv = await run(['acme/shapes'], { HF_ENDPOINT: 'ftp://example' });
    expect(badEnv).toMatchObject({ code: 1 });
    expect(badEnv.stderr).toContain('HF_ENDPOINT="ftp://example": expected a URL starting with http:// or https://');
    expect((await run(['--help'])).stdout).toContain('usage: npm run models:pull');
  });
});
