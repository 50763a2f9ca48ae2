// The per-step scoring of the searches in generate.ts, done in one scan of each logits row. A step
// needs, per sequence, the log-softmax of the last position's logits and a few best candidates; over
// a 30,524-word vocabulary, materialising the log-softmax rows and offering every entry to a sorted
// list cost several times the decoder itself on a small model. Here a row is read in place: its
// log-sum-exp (double precision, in index order, so scores are bit-identical to writing the
// log-softmax out), then one pass that computes each candidate's value and keeps the best few in a
// small sorted list, touching the list only for an entry that beats its worst. On the native backend
// the addon does both scans for all rows at once (float exps, a double sum: scores then agree with
// this file's to ~1e-7, as a float32 log-softmax would, not bit for bit), and the search offers only
// each row's few largest entries: ranking by value − lse + base keeps a row's order.
import { tf } from '../engine/backend.js';
import { loadAddon } from '../engine/native/addon.js';

/** log Σ exp(row), in double precision: the max first, then Σ exp(x − max) in index order. */
export function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  if (max === -Infinity) return max;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/**
 * The k best (value, index) pairs offered, best first: larger value first, lower index first among
 * equal values (as torch.topk over a flattened [beams × vocab] score and HF's beam scorer rank them).
 * NaN values are never kept.
 */
export class TopK {
  readonly values: number[] = [];
  readonly indices: number[] = [];

  constructor(private readonly k: number) {}

  /** Values below this cannot enter (equal ones can, with a lower index): the worst kept once full. */
  get floor(): number {
    return this.values.length < this.k ? -Infinity : this.values[this.k - 1]!;
  }

  offer(value: number, index: number): void {
    const { values, indices, k } = this;
    const beats = (pos: number) => value > values[pos]! || (value === values[pos]! && index < indices[pos]!);
    if (!(value >= this.floor) || (values.length === k && !beats(k - 1))) return;
    let pos = values.length;
    while (pos > 0 && beats(pos - 1)) pos--;
    values.splice(pos, 0, value);
    indices.splice(pos, 0, index);
    if (values.length > k) {
      values.pop();
      indices.pop();
    }
  }
}

/**
 * Offers entry v of `row` to `top` as (row[v] − shift) + base with index offset + v: a beam's
 * log-softmax (shift = its log-sum-exp) plus its running score. `processed` replaces the value of a
 * few entries (repetition penalty, a blocked EOS) by the given one, base still added.
 */
export function offerRow(top: TopK, row: Float32Array, shift: number, base: number, offset: number, processed: ReadonlyMap<number, number>): void {
  let floor = top.floor;
  for (let v = 0; v < row.length; v++) {
    // The same arithmetic, in the same order, as a materialised log-softmax plus score would do.
    const value = (row[v]! - shift) + base;
    // Most entries fail this one comparison; the rest go through the exact (value, index) order.
    if (value >= floor && !processed.has(v)) {
      top.offer(value, offset + v);
      floor = top.floor;
    }
  }
  for (const [v, value] of processed) top.offer(value + base, offset + v);
}

/** One search step's scoring of rows [rows × vocab]: each row's log-sum-exp, and an offer of its entries. */
export interface RowScores {
  lse(row: number): number;
  /** offerRow for row `r`: its entries as log-softmax (or, `raw`, as they are) + `base`, at index offset + entry. */
  offer(top: TopK, r: number, base: number, offset: number, processed: ReadonlyMap<number, number>, raw?: boolean): void;
}

/**
 * Scores for the rows of `data` where a search keeps at most `keep` candidates and processes at most
 * `processedMax` entries of a row: on the native backend every row's log-sum-exp and its
 * keep + processedMax largest entries in one addon call, else the one-pass scans above, lazily.
 */
export function scoreRows(data: Float32Array, vocab: number, keep: number, processedMax: number): RowScores {
  const row = (r: number) => data.subarray(r * vocab, (r + 1) * vocab);
  const addon = tf.getBackend() === 'native' ? loadAddon() : undefined;
  if (addon?.ok) {
    const k = Math.min(keep + processedMax, vocab);
    const rows = data.length / vocab;
    const lse = new Float64Array(rows);
    const ids = new Int32Array(rows * k);
    addon.addon.rowTopK(data, vocab, k, lse, ids);
    return {
      lse: (r) => lse[r]!,
      offer(top, r, base, offset, processed, raw = false) {
        const values = row(r);
        const shift = raw ? 0 : lse[r]!;
        for (let i = r * k; i < (r + 1) * k && ids[i]! >= 0; i++) {
          const v = ids[i]!;
          if (!processed.has(v)) top.offer((values[v]! - shift) + base, offset + v);
        }
        for (const [v, value] of processed) top.offer(value + base, offset + v);
      },
    };
  }
  const lses = new Map<number, number>();
  const lse = (r: number) => lses.get(r) ?? lses.set(r, logSumExp(row(r))).get(r)!;
  return { lse, offer: (top, r, base, offset, processed, raw = false) => offerRow(top, row(r), raw ? 0 : lse(r), base, offset, processed) };
}
