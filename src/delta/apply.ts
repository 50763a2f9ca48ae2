// `dlip delta apply`: rebuilds the new model folder from a base folder and a patch. Checks, in order:
// the patch's layout and lengths, its signature (when a verify key is given), the payload's sha256,
// the base weights' sha256 (a patch made for another base is refused), then the rebuilt weights'
// and files' sha256; only then is the folder written, whole, under a temporary name and renamed.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { decompress, unshuffle, xor } from './codec.js';
import { decodePatch } from './format.js';
import type { Chunk, PatchFile, PatchHeader } from './format.js';
import { readModelFolder, sha256, tensorBytes } from './folder.js';
import type { ModelFolder } from './folder.js';
import { verifyPatch } from './sign.js';

function chunkOf(patch: PatchFile, chunk: Chunk, what: string): Buffer {
  return decompress(patch.payload.subarray(chunk.offset, chunk.offset + chunk.length), patch.header.codec, chunk.rawLength, what);
}

/** Tensor name → [begin, end) in the data section, from the result's safetensors header bytes. */
function resultOffsets(headerBytes: Buffer, name: string): { dataStart: number; offsets: Map<string, [number, number]> } {
  const fail = (why: string): never => {
    throw new Error(`${name}: corrupt patch: the result's safetensors header ${why}`);
  };
  if (headerBytes.length < 8) fail(`has ${headerBytes.length} bytes`);
  const length = Number(headerBytes.readBigUInt64LE(0));
  if (8 + length !== headerBytes.length) fail(`declares ${length} bytes of JSON in ${headerBytes.length - 8}`);
  let json: Record<string, { data_offsets?: unknown }>;
  try {
    json = JSON.parse(headerBytes.subarray(8).toString('utf8')) as typeof json;
  } catch {
    fail('is not JSON');
  }
  const offsets = new Map<string, [number, number]>();
  for (const [key, value] of Object.entries(json!)) {
    if (key === '__metadata__') continue;
    const o = value?.data_offsets;
    if (!Array.isArray(o) || o.length !== 2 || !o.every((x) => Number.isInteger(x) && x >= 0) || o[0] > o[1]) fail(`has bad data_offsets for "${key}"`);
    offsets.set(key, o as [number, number]);
  }
  return { dataStart: headerBytes.length, offsets };
}

/** The result's weights, byte for byte, from the base and the patch (hashes checked by the caller). */
export function rebuildWeights(base: ModelFolder, patch: PatchFile, name: string): Buffer {
  const h: PatchHeader = patch.header;
  const headerBytes = chunkOf(patch, h.resultHeader, `${name}: result header`);
  const { dataStart, offsets } = resultOffsets(headerBytes, name);
  if (offsets.size !== h.tensors.length || h.tensors.some((t) => !offsets.has(t.name))) {
    throw new Error(`${name}: corrupt patch: its tensor list does not match the result's safetensors header`);
  }
  const out = Buffer.alloc(h.result.bytes);
  headerBytes.copy(out, 0);
  for (const t of h.tensors) {
    const [begin, end] = offsets.get(t.name)!;
    if (dataStart + end > out.length) throw new Error(`${name}: corrupt patch: tensor "${t.name}" ends past the ${out.length}-byte result`);
    const baseBytes = tensorBytes(base, t.name);
    let bytes: Buffer;
    if (t.source === 'base' || t.encoding === 'xor') {
      if (!baseBytes || baseBytes.length !== end - begin) {
        throw new Error(`${name}: the patch takes tensor "${t.name}" (${end - begin} bytes) from the base, which has ${baseBytes ? `${baseBytes.length} bytes` : 'no such tensor'}`);
      }
    }
    if (t.source === 'base') {
      bytes = baseBytes!;
    } else {
      const stored = unshuffle(chunkOf(patch, t.chunk, `${name}: tensor "${t.name}"`), t.elementBytes);
      bytes = t.encoding === 'xor' ? xor(stored, baseBytes!) : stored;
      if (bytes.length !== end - begin) throw new Error(`${name}: corrupt patch: tensor "${t.name}" has ${bytes.length} bytes, its header says ${end - begin}`);
    }
    bytes.copy(out, dataStart + begin);
  }
  return out;
}

/** The result's other files, each checked against its sha256. */
function rebuildFiles(base: ModelFolder, patch: PatchFile, name: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const f of patch.header.files) {
    const data = f.source === 'base' ? base.files.get(f.name) : chunkOf(patch, f.chunk, `${name}: file ${f.name}`);
    if (!data) throw new Error(`${name}: the patch takes ${f.name} from the base, and ${base.dir} has no ${f.name}`);
    if (sha256(data) !== f.sha256) {
      const where = f.source === 'base' ? `${join(base.dir, f.name)} differs from the base the patch was made against` : `the patch's copy of ${f.name} is corrupt`;
      throw new Error(`${name}: ${where} (sha256 ${sha256(data).slice(0, 16)}…, expected ${f.sha256.slice(0, 16)}…)`);
    }
    files.set(f.name, data);
  }
  return files;
}

export interface ApplyOptions {
  /** Refuse the patch unless it is signed by this ed25519 public key. */
  verifyKey?: KeyObject;
}

export interface ApplyReport {
  out: string;
  sha256: string;
  tensors: PatchHeader['summary']['tensors'];
  files: PatchHeader['summary']['files'];
  signed: boolean;
  /** True when a signature was checked against the verify key. */
  verified: boolean;
}

/** Verifies a decoded patch against a base folder and returns the result's weights and files. */
export function rebuild(base: ModelFolder, patch: PatchFile, name: string): { weights: Buffer; files: Map<string, Buffer> } {
  const h = patch.header;
  const baseHash = sha256(base.weights);
  if (baseHash !== h.base.sha256) {
    throw new Error(`${name} was made for another base: it needs weights with sha256 ${h.base.sha256.slice(0, 16)}…, and ${join(base.dir, base.weightsName)} has ${baseHash.slice(0, 16)}…`);
  }
  const weights = rebuildWeights(base, patch, name);
  const resultHash = sha256(weights);
  if (resultHash !== h.result.sha256) {
    throw new Error(`${name}: the rebuilt weights have sha256 ${resultHash.slice(0, 16)}…, the patch promises ${h.result.sha256.slice(0, 16)}…; the patch is corrupt, nothing was written`);
  }
  return { weights, files: rebuildFiles(base, patch, name) };
}

/** Writes the folder under a temporary name beside `out`, then renames it into place. */
async function writeFolder(out: string, weightsName: string, weights: Buffer, files: Map<string, Buffer>): Promise<void> {
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.${Date.now()}.tmp`);
  await mkdir(tmp, { recursive: true });
  try {
    await writeFileAtomic(join(tmp, weightsName), weights);
    for (const [file, data] of files) await writeFileAtomic(join(tmp, file), data);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

export async function applyDelta(baseDir: string, patchPath: string, out: string, options: ApplyOptions = {}): Promise<ApplyReport> {
  if (existsSync(out)) throw new Error(`${out} already exists; dlip delta apply writes a new folder (remove it or choose another --out)`);
  const bytes = await readFile(patchPath).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${patchPath}: cannot read (${err.code ?? err.message})`);
  });
  const patch = decodePatch(bytes, patchPath);
  if (options.verifyKey) verifyPatch(patch, options.verifyKey, patchPath);
  if (sha256(patch.payload) !== patch.header.payload.sha256) throw new Error(`${patchPath}: corrupt: the payload's sha256 does not match its header`);
  const base = await readModelFolder(baseDir);
  const { weights, files } = rebuild(base, patch, patchPath);
  await writeFolder(out, patch.header.weights, weights, files);
  const h = patch.header;
  return { out, sha256: h.result.sha256, tensors: h.summary.tensors, files: h.summary.files, signed: patch.signature !== undefined, verified: options.verifyKey !== undefined };
}
