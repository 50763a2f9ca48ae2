// `dlip delta create`: the patch that turns one model folder into another. Only tensors whose bytes
// changed are carried (XORed with the base's where dtype and shape agree, then compressed); the other
// files of the folder are carried when they differ. The patch is rebuilt against the base before it
// is returned, so a patch that would not reproduce the new weights byte for byte is never written.
import type { KeyObject } from 'node:crypto';
import { DTYPE_BYTES } from '../io/safetensors.js';
import type { StoredDType } from '../io/safetensors.js';
import { rebuild } from './apply.js';
import { compress, shuffle, xor } from './codec.js';
import { decodePatch, encodePatch } from './format.js';
import type { Chunk, Codec, FileRecord, PatchHeader, TensorRecord } from './format.js';
import { readModelFolder, sha256, tensorBytes } from './folder.js';
import { signPatch } from './sign.js';

export interface CreateOptions {
  /** node:zlib codec of the chunks. Default deflate. */
  codec?: Codec;
  /** Sign the patch with this ed25519 private key. */
  signKey?: KeyObject;
}

export interface CreatedPatch {
  bytes: Buffer;
  header: PatchHeader;
}

/** Appends compressed chunks to one payload. */
class PayloadWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly codec: Codec) {}

  add(raw: Buffer): Chunk {
    const packed = compress(raw, this.codec);
    this.parts.push(packed);
    const chunk = { offset: this.size, length: packed.length, rawLength: raw.length };
    this.size += packed.length;
    return chunk;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

export async function createDelta(oldDir: string, newDir: string, options: CreateOptions = {}): Promise<CreatedPatch> {
  const codec = options.codec ?? 'deflate';
  const [base, next] = [await readModelFolder(oldDir), await readModelFolder(newDir)];
  if (base.weightsName !== next.weightsName) throw new Error(`${oldDir} keeps its weights in ${base.weightsName}, ${newDir} in ${next.weightsName}`);
  const payload = new PayloadWriter(codec);
  const resultHeader = payload.add(next.weights.subarray(0, next.header.dataStart));

  const tensors: TensorRecord[] = [];
  const counts = { unchanged: 0, changed: 0, added: 0 };
  for (const entry of [...next.header.entries.values()].sort((a, b) => a.begin - b.begin)) {
    const bytes = tensorBytes(next, entry.name)!;
    const old = base.header.entries.get(entry.name);
    const oldBytes = tensorBytes(base, entry.name);
    if (old && oldBytes && old.dtype === entry.dtype && old.shape.join() === entry.shape.join() && oldBytes.equals(bytes)) {
      tensors.push({ name: entry.name, source: 'base' });
      counts.unchanged++;
      continue;
    }
    const elementBytes = DTYPE_BYTES[entry.dtype as StoredDType] ?? 1;
    const comparable = old !== undefined && old.dtype === entry.dtype && oldBytes!.length === bytes.length;
    const encoding = comparable ? 'xor' : 'raw';
    const stored = shuffle(comparable ? xor(bytes, oldBytes!) : bytes, elementBytes);
    tensors.push({ name: entry.name, source: 'patch', encoding, elementBytes, chunk: payload.add(stored) });
    if (old) counts.changed++;
    else counts.added++;
  }
  const removedTensors = [...base.header.entries.keys()].filter((name) => !next.header.entries.has(name)).sort();

  const files: FileRecord[] = [];
  const changedFiles: string[] = [];
  for (const [name, data] of next.files) {
    const same = base.files.get(name)?.equals(data) ?? false;
    files.push(same ? { name, sha256: sha256(data), source: 'base' } : { name, sha256: sha256(data), source: 'patch', chunk: payload.add(data) });
    if (!same) changedFiles.push(name);
  }
  const removedFiles = [...base.files.keys()].filter((name) => !next.files.has(name));

  const body = payload.finish();
  const header: PatchHeader = {
    format: 'dlip-delta',
    version: 1,
    codec,
    created: new Date().toISOString(),
    weights: next.weightsName,
    base: { sha256: sha256(base.weights), bytes: base.weights.length },
    result: { sha256: sha256(next.weights), bytes: next.weights.length },
    resultHeader,
    tensors,
    files,
    summary: {
      tensors: { ...counts, removed: removedTensors },
      files: { unchanged: files.length - changedFiles.length, changed: changedFiles, removed: removedFiles },
    },
    payload: { bytes: body.length, sha256: sha256(body) },
  };
  let bytes = encodePatch(header, body);
  // Rebuild before handing it out: the checks apply runs, on the bytes that will be written.
  rebuild(base, decodePatch(bytes, 'the new patch'), 'the new patch');
  if (options.signKey) bytes = signPatch(bytes, options.signKey);
  return { bytes, header };
}
