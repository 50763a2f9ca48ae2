// The gallery's on-disk record: [u32 payload length][u32 CRC-32 of the payload][payload], payload =
// [u32 JSON length][JSON fields][float32 embedding]. A write torn by a crash leaves a short or
// mismatching last frame, which the reader finds and reports instead of returning garbage.

export interface AddRecord {
  op: 'add';
  id: string;
  /** Model version (weights hash) the embedding comes from. */
  version: string;
  /** The stored upload, under images/. */
  file: string;
  meta: Record<string, unknown>;
  /** Milliseconds since the epoch. */
  added: number;
  vector: Float32Array;
}

export interface RemoveRecord {
  op: 'remove';
  id: string;
}

/** First record of a snapshot: which log continues it. */
export interface SnapshotHeader {
  op: 'snapshot';
  generation: number;
}

export type GalleryRecord = AddRecord | RemoveRecord | SnapshotHeader;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, as zlib): catches torn and bit-flipped frames. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodeRecord(record: GalleryRecord): Buffer {
  const { vector, ...fields } = record as Partial<AddRecord> & { op: string };
  const json = Buffer.from(JSON.stringify(fields), 'utf8');
  const vectorBytes = vector ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength) : Buffer.alloc(0);
  const payload = Buffer.allocUnsafe(4 + json.length + vectorBytes.length);
  payload.writeUInt32LE(json.length, 0);
  json.copy(payload, 4);
  vectorBytes.copy(payload, 4 + json.length);
  const frame = Buffer.allocUnsafe(8 + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, 8);
  return frame;
}

function decodePayload(payload: Buffer): GalleryRecord {
  const jsonLength = payload.readUInt32LE(0);
  const fields = JSON.parse(payload.subarray(4, 4 + jsonLength).toString('utf8')) as GalleryRecord;
  if (fields.op !== 'add') return fields;
  const bytes = payload.subarray(4 + jsonLength);
  // A copy: the frame's buffer offset need not be 4-byte aligned for a Float32Array view.
  const vector = new Float32Array(bytes.length / 4);
  new Uint8Array(vector.buffer).set(bytes);
  return { ...fields, vector };
}

export interface ReadResult {
  records: GalleryRecord[];
  /** Bytes of whole, valid frames from the start; anything after is a torn or corrupt tail. */
  validBytes: number;
}

/** Every valid frame from the start of `data`, stopping at the first short or mismatching one. */
export function readRecords(data: Buffer): ReadResult {
  const records: GalleryRecord[] = [];
  let at = 0;
  while (at + 8 <= data.length) {
    const length = data.readUInt32LE(at);
    const end = at + 8 + length;
    if (length < 4 || end > data.length) break;
    const payload = data.subarray(at + 8, end);
    if (crc32(payload) !== data.readUInt32LE(at + 4)) break;
    try {
      records.push(decodePayload(payload));
    } catch {
      break;
    }
    at = end;
  }
  return { records, validBytes: at };
}
