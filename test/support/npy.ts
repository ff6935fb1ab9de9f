// Reads a little-endian float32 .npy file (NumPy format versions 1 and 2), as the reference
// images of test/fixtures/sd15-tiny/refs are stored.
import { readFileSync } from 'node:fs';
import { u8At } from '../../src/checked.js';

export function readNpyFloat32(file: string): { shape: number[]; data: Float32Array } {
  const bytes = readFileSync(file);
  if (bytes.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file} is not a .npy file`);
  const major = u8At(bytes, 6);
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = bytes.toString('latin1', headerStart, headerStart + headerLength);
  if (!header.includes("'descr': '<f4'") || header.includes("'fortran_order': True"))
    throw new Error(`${file}: only C-order little-endian float32 is supported: ${header}`);
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .filter((d) => d.trim() !== '')
    .map(Number);
  const start = headerStart + headerLength;
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${file}: ${data.length} values for shape ${shape.join('x')}`);
  return { shape, data };
}
