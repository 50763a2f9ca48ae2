// Generation through an exported decoder graph with its key/value cache: the prefix runs once
// (empty past), then each step feeds one token and the previous step's `present.*` as past, the
// cache rows following the search as beams reorder and finished inputs leave. The cross-attention
// keys/values over each input are computed once (the *_cross_kv graph) and gathered per sequence, as
// is the answer decoder's encoder_attention_mask over each input's question.
import { tf } from '../engine/backend.js';
import type { CachedDecoder } from '../eval/generate.js';
import { int64s } from './session.js';
import type { HostTensor } from './session.js';

type Output = { data: Float32Array; dims: number[] };
export type RunGraph = (feeds: Record<string, HostTensor>) => Record<string, Output>;

/** Rows `index` of a row-major [rows, ...] array. */
function gatherRows<T extends Float32Array | BigInt64Array>(data: T, rowSize: number, index: readonly number[]): T {
  const out = new (data.constructor as new (n: number) => T)(index.length * rowSize);
  // `as never`: T's subarray is T, which TypeScript cannot see through the union's set signatures.
  index.forEach((r, i) => out.set(data.subarray(r * rowSize, (r + 1) * rowSize) as never, i * rowSize));
  return out;
}

export class OnnxCachedDecoder implements CachedDecoder {
  private rows: number[] = [];
  private past: Output[] = [];
  private length = 0;
  /** The live sequences' cross keys/values (their inputs' rows), re-gathered only when the rows change. */
  private crossRows: number[] = [];
  private cross: Record<string, HostTensor> = {};

  /**
   * `inputCross`: the *_cross_kv graph's outputs for every input ([inputs, H, T, d] each);
   * `layers`, `heads`, `headDim`: the decoder's cache layout; `inputMask`: the answer decoder's
   * encoder_attention_mask for every input ([inputs, T] int64), fed per sequence as the cross keys/values.
   */
  constructor(
    private readonly run: RunGraph,
    private readonly inputCross: Record<string, Output>,
    private readonly cache: { layers: number; heads: number; headDim: number },
    private readonly inputMask?: HostTensor,
  ) {}

  start(prefix: readonly (readonly number[])[], rows: readonly number[]): tf.Tensor {
    if (prefix.length !== rows.length) throw new Error(`OnnxCachedDecoder: ${prefix.length} sequences but ${rows.length} rows`);
    const inputs = Object.values(this.inputCross)[0]?.dims[0] ?? 0;
    const bad = rows.find((r) => !Number.isInteger(r) || r < 0 || r >= inputs);
    if (bad !== undefined) throw new Error(`OnnxCachedDecoder: row ${bad} names no input (${inputs} inputs)`);
    const len = prefix[0]?.length ?? 0;
    prefix.forEach((s, i) => {
      if (s.length !== len) throw new Error(`OnnxCachedDecoder: prefix ${i} has ${s.length} tokens, prefix 0 has ${len}`);
    });
    this.rows = [...rows];
    const { heads, headDim, layers } = this.cache;
    const empty = { data: new Float32Array(0), dims: [rows.length, heads, 0, headDim] };
    this.past = Array.from({ length: 2 * layers }, () => empty);
    this.length = 0;
    return this.decode(prefix.flat(), len);
  }

  step(tokens: readonly number[], parents: readonly number[]): tf.Tensor {
    const live = this.rows.length;
    if (live === 0) throw new Error('OnnxCachedDecoder: step before start');
    if (tokens.length !== parents.length) throw new Error(`OnnxCachedDecoder: ${tokens.length} tokens but ${parents.length} parents`);
    const bad = parents.find((p) => !Number.isInteger(p) || p < 0 || p >= live);
    if (bad !== undefined) throw new Error(`OnnxCachedDecoder: parent ${bad} names no sequence (${live} live)`);
    if (parents.length !== live || parents.some((p, i) => p !== i)) {
      const rowSize = this.cache.heads * this.length * this.cache.headDim;
      this.past = this.past.map((kv) => ({ data: gatherRows(kv.data, rowSize, parents), dims: [parents.length, ...kv.dims.slice(1)] }));
      this.rows = parents.map((p) => this.rows[p]!);
    }
    return this.decode(tokens, 1);
  }

  dispose(): void {
    this.past = [];
    this.rows = [];
    this.cross = {};
    this.crossRows = [];
  }

  /** Runs `ids` (rows × `count` new tokens) after the cache; keeps the grown cache; logits [rows, vocab] of the last position. */
  private decode(ids: readonly number[], count: number): tf.Tensor {
    const n = this.rows.length;
    const total = this.length + count;
    if (this.crossRows.length !== n || this.crossRows.some((r, i) => r !== this.rows[i])) {
      const inputs: [string, Output | HostTensor][] = Object.entries(this.inputCross);
      if (this.inputMask) inputs.push(['encoder_attention_mask', this.inputMask]);
      this.cross = Object.fromEntries(inputs.map(([name, t]) => {
        const rowSize = t.data.length / t.dims[0]!;
        return [name, { data: gatherRows(t.data, rowSize, this.rows), dims: [n, ...t.dims.slice(1)] }];
      }));
      this.crossRows = [...this.rows];
    }
    const feeds: Record<string, HostTensor> = {
      input_ids: int64s(ids, [n, count]),
      attention_mask: int64s(new Int32Array(n * total).fill(1), [n, total]),
      ...this.cross,
    };
    for (let i = 0; i < this.cache.layers; i++) {
      feeds[`past_key_values.${i}.key`] = this.past[2 * i]!;
      feeds[`past_key_values.${i}.value`] = this.past[2 * i + 1]!;
    }
    const out = this.run(feeds);
    this.past = Array.from({ length: this.cache.layers }, (_, i) => [out[`present.${i}.key`]!, out[`present.${i}.value`]!]).flat();
    this.length = total;
    const logits = out.logits!;
    const vocab = logits.dims[2]!;
    // A step's one position is already [n, vocab]: wrapped as it is, not copied (12 MB at 96 beams).
    if (count === 1) return tf.tensor2d(logits.data, [n, vocab]);
    const last = new Float32Array(n * vocab);
    for (let r = 0; r < n; r++) last.set(logits.data.subarray((r * count + count - 1) * vocab, (r * count + count) * vocab), r * vocab);
    return tf.tensor2d(last, [n, vocab]);
  }
}
