// The picture of `/imagine image:`: fetched only from the allowed hosts (Discord's CDN;
// ATTACHMENT_HOSTS), never following a redirect, cut off past MAX_INPUT_BYTES while it
// streams, recognised by its own bytes (PNG, JPEG or WebP; its name and content type are not
// trusted), and decoded with a pixel limit before anything else reads it. Every refusal is a
// UserError that says what is wrong.
import sharp from 'sharp';
import type { BotConfig } from './context.js';
import { UserError } from './errors.js';

export interface Picture {
  /** The picture as PNG (orientation applied, no alpha), ready to store. */
  png: Buffer;
  width: number;
  height: number;
}

type Policy = Pick<BotConfig, 'ATTACHMENT_HOSTS' | 'MAX_INPUT_BYTES' | 'MAX_INPUT_PIXELS'>;

const FETCH_TIMEOUT_MS = 15_000;

/** Whether the URL is on an allowed host: https for `host[:port]` entries, http for `http://host[:port]` ones. */
export function allowedUrl(url: URL, hosts: readonly string[]): boolean {
  return hosts.some((entry) => {
    const plain = entry.startsWith('http://');
    const hostPort = plain ? entry.slice('http://'.length) : entry;
    return (
      url.protocol === (plain ? 'http:' : 'https:') &&
      url.host.toLowerCase() === hostPort.toLowerCase() &&
      url.username === '' &&
      url.password === ''
    );
  });
}

/** The format a file's first bytes say it is. */
function sniff(bytes: Uint8Array): 'png' | 'jpeg' | 'webp' | null {
  const at = (offset: number, ...values: number[]) => values.every((v, i) => bytes[offset + i] === v);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  return null;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`;

async function download(url: URL, maxBytes: number): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch {
    throw new UserError('Your picture could not be downloaded from Discord. Please try again.');
  }
  if (response.status !== 200 || response.body === null) {
    await response.body?.cancel();
    throw new UserError(`Your picture could not be downloaded from Discord (HTTP ${response.status}).`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body.cancel();
    throw new UserError(`Your picture is too large: at most ${mib(maxBytes)}.`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > maxBytes) throw new UserError(`Your picture is too large: at most ${mib(maxBytes)}.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Fetches and decodes the picture at `rawUrl`, or throws UserError. */
export async function fetchPicture(rawUrl: string, policy: Policy): Promise<Picture> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new UserError('That attachment has no usable address.');
  }
  if (!allowedUrl(url, policy.ATTACHMENT_HOSTS))
    throw new UserError('Pictures are taken only from Discord: attach the file to the command.');
  const bytes = await download(url, policy.MAX_INPUT_BYTES);
  const format = sniff(bytes);
  if (format === null) throw new UserError('Your picture must be a PNG, JPEG or WebP file.');
  try {
    const image = sharp(bytes, { limitInputPixels: policy.MAX_INPUT_PIXELS, failOn: 'error' });
    const meta = await image.metadata();
    if (meta.format !== format) throw new UserError('Your picture must be a PNG, JPEG or WebP file.');
    const { data, info } = await image.rotate().flatten({ background: '#ffffff' }).png().toBuffer({ resolveWithObject: true });
    return { png: data, width: info.width, height: info.height };
  } catch (error) {
    if (error instanceof UserError) throw error;
    const message = error instanceof Error ? error.message : '';
    if (/pixel limit/i.test(message)) throw new UserError(`Your picture is too large: at most ${policy.MAX_INPUT_PIXELS} pixels.`);
    throw new UserError('Your picture could not be read: the file is damaged or not a PNG, JPEG or WebP image.');
  }
}
