// The patch file of a delta update: "DLIPDLT1", a u64 little-endian header length H, H bytes of JSON
// header, the payload (compressed chunks the header points into), then optionally a signature block:
// "DLIPSIG1", the signer's raw 32-byte ed25519 public key and a 64-byte signature over every byte
// before the block. Reading checks every length against the file, so a truncated or padded patch is
// refused with the numbers, before anything is decompressed.
import { z } from 'zod';

export const PATCH_MAGIC = Buffer.from('DLIPDLT1', 'latin1');
export const SIGNATURE_MAGIC = Buffer.from('DLIPSIG1', 'latin1');
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SIGNATURE_BLOCK_BYTES = SIGNATURE_MAGIC.length + PUBLIC_KEY_BYTES + SIGNATURE_BYTES;
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

export const CODECS = ['deflate', 'brotli'] as const;
export type Codec = (typeof CODECS)[number];

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');
const Count = z.number().int().nonnegative();

/** A compressed byte range of the payload. */
const Chunk = z.object({ offset: Count, length: Count, rawLength: Count });
export type Chunk = z.infer<typeof Chunk>;

/**
 * A tensor of the result, in the result's data order: its bytes are the base's tensor of the same
 * name ('base'), or a chunk of the patch, stored as is ('raw') or XORed with the base's bytes ('xor',
 * small fine-tune changes leave most sign and exponent bits equal), byte-shuffled by element size.
 */
const TensorRecord = z.discriminatedUnion('source', [
  z.object({ name: z.string(), source: z.literal('base') }),
  z.object({ name: z.string(), source: z.literal('patch'), encoding: z.enum(['raw', 'xor']), elementBytes: z.number().int().positive(), chunk: Chunk }),
]);
export type TensorRecord = z.infer<typeof TensorRecord>;

/** A file of the result folder besides the weights (config.json, dlip.json, a model card...). */
const FileRecord = z.discriminatedUnion('source', [
  z.object({ name: z.string(), sha256: Sha256, source: z.literal('base') }),
  z.object({ name: z.string(), sha256: Sha256, source: z.literal('patch'), chunk: Chunk }),
]);
export type FileRecord = z.infer<typeof FileRecord>;

export const PatchHeaderSchema = z.object({
  format: z.literal('dlip-delta'),
  version: z.literal(1),
  codec: z.enum(CODECS),
  created: z.string(),
  /** The weights file both folders name, and the sha256 of the base's and the result's. */
  weights: z.string(),
  base: z.object({ sha256: Sha256, bytes: Count }),
  result: z.object({ sha256: Sha256, bytes: Count }),
  /** The result's safetensors header (its first bytes, up to the data section), verbatim. */
  resultHeader: Chunk,
  tensors: z.array(TensorRecord),
  files: z.array(FileRecord),
  /** What changed, for people: tensors by kind, files added or changed, names removed. */
  summary: z.object({
    tensors: z.object({ unchanged: Count, changed: Count, added: Count, removed: z.array(z.string()) }),
    files: z.object({ unchanged: Count, changed: z.array(z.string()), removed: z.array(z.string()) }),
  }),
  payload: z.object({ bytes: Count, sha256: Sha256 }),
});
export type PatchHeader = z.infer<typeof PatchHeaderSchema>;

export interface PatchFile {
  header: PatchHeader;
  payload: Buffer;
  /** Every byte before the signature block: what a signature covers. */
  signed: Buffer;
  signature?: { publicKey: Buffer; signature: Buffer };
}

/** Patch bytes: magic, header, payload; signed later by appending a block (see sign.ts). */
export function encodePatch(header: PatchHeader, payload: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([PATCH_MAGIC, length, json, payload]);
}

export function signatureBlock(publicKey: Buffer, signature: Buffer): Buffer {
  return Buffer.concat([SIGNATURE_MAGIC, publicKey, signature]);
}

/** Parses a patch, refusing anything whose layout or lengths do not add up. `name` labels errors. */
export function decodePatch(bytes: Buffer, name: string): PatchFile {
  const fail = (message: string): never => {
    throw new Error(`${name}: ${message}`);
  };
  if (bytes.length < 16 || !bytes.subarray(0, 8).equals(PATCH_MAGIC)) {
    fail(`not a dlip delta patch (it does not start with "DLIPDLT1"${bytes.length < 16 ? `; ${bytes.length} bytes` : ''})`);
  }
  const headerLength = Number(bytes.readBigUInt64LE(8));
  if (headerLength > MAX_HEADER_BYTES || 16 + headerLength > bytes.length) {
    fail(`truncated or corrupt: the header claims ${headerLength} bytes, the file has ${bytes.length - 16} after the magic`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.subarray(16, 16 + headerLength).toString('utf8'));
  } catch (err) {
    fail(`corrupt header: not JSON (${(err as Error).message})`);
  }
  const parsed = PatchHeaderSchema.safeParse(raw);
  if (!parsed.success) fail(`corrupt or unsupported header:\n${z.prettifyError(parsed.error!)}`);
  const header = parsed.data!;
  const payloadStart = 16 + headerLength;
  const payloadEnd = payloadStart + header.payload.bytes;
  const unsigned = payloadEnd;
  const signedSize = unsigned + SIGNATURE_BLOCK_BYTES;
  if (bytes.length < payloadEnd) fail(`truncated: ${bytes.length} bytes, the header says ${payloadEnd}`);
  if (bytes.length !== unsigned && bytes.length !== signedSize) {
    fail(`corrupt: ${bytes.length} bytes, expected ${unsigned} (unsigned) or ${signedSize} (signed)`);
  }
  let signature: PatchFile['signature'];
  if (bytes.length === signedSize) {
    const block = bytes.subarray(unsigned);
    if (!block.subarray(0, 8).equals(SIGNATURE_MAGIC)) fail('corrupt: the bytes after the payload are not a signature block');
    const keyEnd = 8 + PUBLIC_KEY_BYTES;
    signature = { publicKey: block.subarray(8, keyEnd), signature: block.subarray(keyEnd) };
  }
  for (const chunk of chunks(header)) {
    if (chunk.offset + chunk.length > header.payload.bytes) {
      fail(`corrupt header: a chunk spans [${chunk.offset}, ${chunk.offset + chunk.length}) of a ${header.payload.bytes}-byte payload`);
    }
  }
  return { header, payload: bytes.subarray(payloadStart, payloadEnd), signed: bytes.subarray(0, unsigned), signature };
}

/** Every payload range a header points at. */
function chunks(header: PatchHeader): Chunk[] {
  const out: Chunk[] = [header.resultHeader];
  for (const t of header.tensors) if (t.source === 'patch') out.push(t.chunk);
  for (const f of header.files) if (f.source === 'patch') out.push(f.chunk);
  return out;
}
