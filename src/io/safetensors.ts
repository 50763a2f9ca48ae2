// safetensors, written from the format's specification (huggingface/safetensors README): an 8-byte
// little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}} (+ optional
// __metadata__), then the raw little-endian tensor bytes. Hand-written because no maintained npm
// package reads it lazily per tensor; reading tensor by tensor keeps one copy of a large file in memory.
import { Float16Array, getFloat16 } from '@petamoriken/float16';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { writeAtomic } from './atomic.js';

export type StoredDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';
const READABLE: readonly string[] = ['F32', 'F16', 'BF16', 'I64', 'I32'];
export const DTYPE_BYTES: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range inside the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  entries: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** File offset where the data section starts. */
  dataStart: number;
}

/** A tensor read into memory: floats widen to Float32Array, integers stay exact. */
export type LoadedTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array };

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function fail(path: string, message: string): never {
  throw new Error(`${path}: not a valid safetensors file: ${message}`);
}

export async function readHeader(path: string): Promise<SafetensorsHeader> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot open (${err.code ?? err.message})`);
  });
  try {
    return await readHeaderFrom(handle, path);
  } finally {
    await handle.close();
  }
}

async function readHeaderFrom(handle: FileHandle, path: string): Promise<SafetensorsHeader> {
  const { size } = await handle.stat();
  if (size < 8) fail(path, `file has ${size} bytes, fewer than the 8-byte header length`);
  const lengthBytes = Buffer.alloc(8);
  await handle.read(lengthBytes, 0, 8, 0);
  const headerLength = Number(lengthBytes.readBigUInt64LE(0));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
    fail(path, `header length ${headerLength} does not fit in a ${size}-byte file`);
  }
  const json = Buffer.alloc(headerLength);
  await handle.read(json, 0, headerLength, 8);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    fail(path, `header is not JSON (${(err as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = size - dataStart;
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      metadata = raw as Record<string, string>;
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const shape = info.shape;
    const offsets = info.data_offsets;
    if (typeof info.dtype !== 'string' || !Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) {
      fail(path, `tensor "${name}" lacks dtype, shape or data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (!(begin >= 0 && begin <= end && end <= dataLength)) {
      fail(path, `tensor "${name}" has data_offsets [${begin}, ${end}] outside the ${dataLength}-byte data section`);
    }
    const dims = shape as number[];
    const dtype = info.dtype;
    if ((READABLE as string[]).includes(dtype)) {
      const expected = dims.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as StoredDType];
      if (expected !== end - begin) {
        fail(path, `tensor "${name}" ${dtype}[${dims.join(',')}] needs ${expected} bytes but spans ${end - begin}`);
      }
    }
    entries.set(name, { name, dtype, shape: dims, begin, end });
  }
  return { path, entries, metadata, dataStart };
}

let halves: Float32Array | undefined;

/** Every float16 bit pattern's value: reading through the polyfill's typed array is ~30x slower per value. */
function halfTable(): Float32Array {
  if (!halves) {
    halves = new Float32Array(65536);
    const view = new DataView(new ArrayBuffer(2));
    for (let bits = 0; bits < 65536; bits++) {
      view.setUint16(0, bits, true);
      halves[bits] = getFloat16(view, 0, true);
    }
  }
  return halves;
}

/** `count` values of `dtype` from little-endian `bytes`; F16 and BF16 widen to float32. */
export function decodeValues(dtype: string, bytes: Buffer, count: number, what: string): LoadedTensor['data'] {
  switch (dtype) {
    case 'F32': {
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes.subarray(0, 4 * count));
      return data;
    }
    case 'F16': {
      const table = halfTable();
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = table[bytes.readUInt16LE(2 * i)]!;
      return data;
    }
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const widened = new Uint32Array(count);
      for (let i = 0; i < count; i++) widened[i] = bytes.readUInt16LE(2 * i) << 16;
      return new Float32Array(widened.buffer);
    }
    case 'I64': {
      const data = new BigInt64Array(count);
      new Uint8Array(data.buffer).set(bytes.subarray(0, 8 * count));
      return data;
    }
    case 'I32': {
      const data = new Int32Array(count);
      new Uint8Array(data.buffer).set(bytes.subarray(0, 4 * count));
      return data;
    }
    default:
      throw new Error(`${what} has dtype ${dtype}; dlip reads ${READABLE.join(', ')}`);
  }
}

function decode(entry: TensorEntry, bytes: Buffer, path: string): LoadedTensor {
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const data = decodeValues(entry.dtype, bytes, count, `${path}: tensor "${entry.name}"`);
  if (data instanceof BigInt64Array) return { dtype: 'I64', shape: entry.shape, data };
  if (data instanceof Int32Array) return { dtype: 'I32', shape: entry.shape, data };
  return { dtype: 'F32', shape: entry.shape, data };
}

/**
 * Reads the named tensors (all by default), one at a time, so at most one raw tensor buffer is
 * alive beside the decoded ones.
 */
export async function readSafetensors(path: string, names?: Iterable<string>): Promise<Map<string, LoadedTensor>> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot open (${err.code ?? err.message})`);
  });
  try {
    const header = await readHeaderFrom(handle, path);
    const wanted = names ? [...names] : [...header.entries.keys()];
    const out = new Map<string, LoadedTensor>();
    for (const name of wanted) {
      const entry = header.entries.get(name);
      if (!entry) throw new Error(`${path}: no tensor named "${name}"`);
      const bytes = Buffer.alloc(entry.end - entry.begin);
      await handle.read(bytes, 0, bytes.length, header.dataStart + entry.begin);
      out.set(name, decode(entry, bytes, path));
    }
    return out;
  } finally {
    await handle.close();
  }
}

export interface TensorToWrite {
  shape: number[];
  /** The values, or a function that produces them when their turn comes to be written. */
  data: Float32Array | Int32Array | (() => Float32Array | Int32Array);
  /** How the values are stored (default F32): F16 rounds floats to nearest, I32 takes Int32Array data. */
  dtype?: 'F32' | 'F16' | 'I32';
}

/** The stored bytes of one tensor's values. */
function encode(name: string, path: string, dtype: 'F32' | 'F16' | 'I32', data: Float32Array | Int32Array): Uint8Array {
  if ((dtype === 'I32') !== data instanceof Int32Array) throw new Error(`cannot write "${name}" to ${path}: dtype ${dtype} needs ${dtype === 'I32' ? 'Int32Array' : 'Float32Array'} data`);
  const stored = dtype === 'F16' ? new Float16Array(data) : data;
  return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
}

/** How a model's weights are stored: F32 as trained, or F16 for half the bytes (values rounded to nearest even). */
export type WrittenDType = 'F32' | 'F16';

/**
 * Writes tensors (F32 unless told) in sorted-name order (as Hugging Face does), streaming one tensor at
 * a time, atomically; lazy `data` is produced only when written, so a model's weights need not all be
 * copied out of the backend at once. The header is padded with spaces to a multiple of 8 so data stays aligned.
 */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
  /** The dtype of tensors that name none (a model's weights: F32 as trained, or F16 for half the bytes). */
  defaultDType: WrittenDType = 'F32',
): Promise<void> {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const dtype = t.dtype ?? defaultDType;
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const lengthBytes = Buffer.alloc(8);
  lengthBytes.writeBigUInt64LE(BigInt(jsonBytes.length));
  await writeAtomic(path, async (handle) => {
    await handle.write(lengthBytes);
    await handle.write(jsonBytes);
    for (const name of names) {
      const t = tensors.get(name)!;
      const data = typeof t.data === 'function' ? t.data() : t.data;
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (count !== data.length) {
        throw new Error(`cannot write "${name}" to ${path}: shape [${t.shape.join(',')}] holds ${count} values, data has ${data.length}`);
      }
      await handle.write(encode(name, path, t.dtype ?? defaultDType, data));
    }
  });
}
