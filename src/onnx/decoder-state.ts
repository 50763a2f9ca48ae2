// One generation's key/value cache for an exported decoder graph, kept inside the sync worker between
// steps (see OnnxCachedDecoder, the caller's handle on it). At batch 32 × 3 beams the cross-attention
// keys/values and the self-attention cache are megabytes; copying them to the worker and back at every
// step cost more than the step. Here they stay where the session runs: the cross keys/values of every
// input (computed once), the past grown from each run's `present.*` outputs, and which input each
// cached row belongs to. A step takes token ids and which cached row each new row continues, and
// yields the last position's logits, all that the searches read.
import { int64s } from './session.js';
import type { HostTensor } from './session.js';

type Output = { data: Float32Array; dims: number[] };

export interface CacheLayout {
  layers: number;
  heads: number;
  headDim: number;
}

/** Rows `index` of a row-major [rows, ...] array. */
function gatherRows<T extends Float32Array | BigInt64Array>(data: T, rowSize: number, index: readonly number[]): T {
  const out = new (data.constructor as new (n: number) => T)(index.length * rowSize);
  // `as never`: T's subarray is T, which TypeScript cannot see through the union's set signatures.
  index.forEach((r, i) => out.set(data.subarray(r * rowSize, (r + 1) * rowSize) as never, i * rowSize));
  return out;
}

/** Rows `index` of a [rows, ...] tensor. */
function gather(t: HostTensor, index: readonly number[]): HostTensor {
  return { data: gatherRows(t.data, t.data.length / t.dims[0]!, index), dims: [index.length, ...t.dims.slice(1)] };
}

export class DecoderState {
  /** rows[n]: the input cached row n belongs to. */
  private rows: number[] = [];
  private past: HostTensor[] = [];
  private length = 0;
  /** The live rows' cross keys/values (their inputs' rows), re-gathered only when `rows` changes. */
  private crossRows: number[] = [];
  private cross: Record<string, HostTensor> = {};

  /**
   * `inputCross`: per input ([inputs, ...] each), the decoder inputs every row of that input shares:
   * the *_cross_kv graph's outputs and, for the answer decoder, encoder_attention_mask.
   */
  constructor(
    private readonly inputCross: Record<string, HostTensor>,
    private readonly layout: CacheLayout,
  ) {}

  /** Drops the cache; the next run starts sequences over inputs `rows`. */
  begin(rows: readonly number[]): void {
    this.rows = [...rows];
    const { heads, headDim, layers } = this.layout;
    const empty: HostTensor = { data: new Float32Array(0), dims: [rows.length, heads, 0, headDim] };
    this.past = Array.from({ length: 2 * layers }, () => empty);
    this.length = 0;
  }

  /** Row n of the next run continues cached row parents[n] (beams reorder, finished inputs leave). */
  select(parents: readonly number[]): void {
    if (parents.length === this.rows.length && parents.every((p, i) => p === i)) return;
    this.past = this.past.map((kv) => gather(kv, parents));
    this.rows = parents.map((p) => this.rows[p]!);
  }

  /** The decoder graph's inputs for `ids` (rows × `count` new tokens) after the cache. */
  feeds(ids: ArrayLike<number>, count: number): Record<string, HostTensor> {
    const n = this.rows.length;
    if (this.crossRows.length !== n || this.crossRows.some((r, i) => r !== this.rows[i])) {
      this.cross = Object.fromEntries(Object.entries(this.inputCross).map(([name, t]) => [name, gather(t, this.rows)]));
      this.crossRows = [...this.rows];
    }
    const total = this.length + count;
    // Sequences are never padded (every prefix has the same length), so every position is attended.
    const feeds: Record<string, HostTensor> = { input_ids: int64s(ids, [n, count]), attention_mask: int64s(new Int32Array(n * total).fill(1), [n, total]), ...this.cross };
    for (let i = 0; i < this.layout.layers; i++) {
      feeds[`past_key_values.${i}.key`] = this.past[2 * i]!;
      feeds[`past_key_values.${i}.value`] = this.past[2 * i + 1]!;
    }
    return feeds;
  }

  /** Keeps the run's grown cache; the logits [rows × vocab] of its last position. */
  absorb(out: Record<string, Output>, count: number): { data: Float32Array; dims: number[] } {
    this.past = Array.from({ length: this.layout.layers }, (_, i) => [out[`present.${i}.key`]!, out[`present.${i}.value`]!]).flat();
    this.length += count;
    const logits = out.logits!;
    const n = this.rows.length;
    const vocab = logits.dims[2]!;
    // A step's one position is already [n, vocab]: passed on as it is, not copied (12 MB at 96 beams).
    if (count === 1) return { data: logits.data, dims: [n, vocab] };
    const last = new Float32Array(n * vocab);
    for (let r = 0; r < n; r++) last.set(logits.data.subarray((r * count + count - 1) * vocab, (r * count + count) * vocab), r * vocab);
    return { data: last, dims: [n, vocab] };
  }
}
