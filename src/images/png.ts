// Our own PNG writer: the same pixels and parameters always give the same bytes (no
// timestamps, fixed filter and zlib level), which is what makes "/rerun gives a
// byte-identical file" hold. Generation parameters go in a `parameters` text chunk,
// the AUTOMATIC1111 convention that other tools read.
import { deflateSync } from 'node:zlib';
import { u32At, u8At } from '../checked.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(parts: Buffer[]): number {
  let c = 0xffffffff;
  for (const buf of parts) for (let i = 0; i < buf.length; i++) c = u32At(CRC_TABLE, (c ^ u8At(buf, i)) & 0xff) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32([head.subarray(4), data]), 0);
  return Buffer.concat([head, data, crc]);
}

/** tEXt when the text is Latin-1, else iTXt (UTF-8), as PIL does for A1111. */
function textChunk(keyword: string, text: string): Buffer {
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u00ff]*$/.test(text)) return chunk('tEXt', Buffer.from(`${keyword}\0${text}`, 'latin1'));
  return chunk('iTXt', Buffer.concat([Buffer.from(`${keyword}\0\0\0\0\0`, 'latin1'), Buffer.from(text, 'utf8')]));
}

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  rgb: Uint8Array;
}

/** Encodes 8-bit RGB as PNG (filter "Sub" on every row, zlib level 6). */
export function encodePng(image: RgbImage, parameters?: string): Buffer {
  const { width, height, rgb } = image;
  if (rgb.length !== width * height * 3) throw new RangeError(`expected ${width * height * 3} RGB bytes, got ${rgb.length}`);
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    raw[row] = 1; // Sub filter
    const src = y * stride;
    for (let x = 0; x < stride; x++) {
      raw[row + 1 + x] = (u8At(rgb, src + x) - (x >= 3 ? u8At(rgb, src + x - 3) : 0)) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const parts = [SIGNATURE, chunk('IHDR', ihdr)];
  if (parameters !== undefined) parts.push(textChunk('parameters', parameters));
  parts.push(chunk('IDAT', deflateSync(raw, { level: 6 })), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** Reads the `parameters` text chunk of a PNG, if any. */
export function readPngParameters(png: Buffer): string | undefined {
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'tEXt' || type === 'iTXt') {
      const nul = data.indexOf(0);
      if (data.toString('latin1', 0, nul) === 'parameters') {
        return type === 'tEXt' ? data.toString('latin1', nul + 1) : data.subarray(nul + 5).toString('utf8');
      }
    }
    offset += 12 + length;
  }
  return undefined;
}
