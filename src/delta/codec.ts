// How patch chunks are encoded. Compression is node:zlib: it ships with Node (no dependency, no native
// build, the same on every machine that runs dlip), and offers both deflate (fast) and brotli (smaller,
// slower to write); zstd is only in Node ≥ 22.15, and dlip supports Node 20. Float weights compress
// poorly as stored, so tensor bytes are first shuffled into byte planes (every element's byte 0, then
// every byte 1, ...): sign and exponent bytes, alike across a tensor, then sit together. A changed
// tensor may also be XORed with its base first: a small fine-tune step leaves most high bits equal.
import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Codec } from './format.js';

export function compress(data: Buffer, codec: Codec): Buffer {
  if (codec === 'brotli') {
    return brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } });
  }
  return deflateRawSync(data, { level: 9 });
}

/** Decompresses a chunk, checking it inflates to exactly `rawLength` bytes. */
export function decompress(data: Buffer, codec: Codec, rawLength: number, what: string): Buffer {
  let out: Buffer;
  try {
    out = codec === 'brotli' ? brotliDecompressSync(data, { maxOutputLength: Math.max(rawLength, 1) }) : inflateRawSync(data, { maxOutputLength: Math.max(rawLength, 1) });
  } catch (err) {
    throw new Error(`${what}: corrupt chunk (${codec}: ${(err as Error).message})`);
  }
  if (out.length !== rawLength) throw new Error(`${what}: corrupt chunk (inflates to ${out.length} bytes, expected ${rawLength})`);
  return out;
}

/** Byte planes: byte b of element i goes to b·n + i. */
export function shuffle(data: Buffer, elementBytes: number): Buffer {
  if (elementBytes === 1 || data.length % elementBytes !== 0) return Buffer.from(data);
  const n = data.length / elementBytes;
  const out = Buffer.allocUnsafe(data.length);
  for (let b = 0; b < elementBytes; b++) for (let i = 0; i < n; i++) out[b * n + i] = data[i * elementBytes + b]!;
  return out;
}

export function unshuffle(data: Buffer, elementBytes: number): Buffer {
  if (elementBytes === 1 || data.length % elementBytes !== 0) return Buffer.from(data);
  const n = data.length / elementBytes;
  const out = Buffer.allocUnsafe(data.length);
  for (let b = 0; b < elementBytes; b++) for (let i = 0; i < n; i++) out[i * elementBytes + b] = data[b * n + i]!;
  return out;
}

/** a XOR b, in place into a copy of `a` (equal lengths). */
export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.from(a);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ b[i]!;
  return out;
}
