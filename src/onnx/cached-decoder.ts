// Generation through an exported decoder graph with its key/value cache: the prefix runs once
// (empty past), then each step feeds one token and the previous step's `present.*` as past, the
// cache rows following the search as beams reorder and finished inputs leave. The cross-attention
// keys/values over each input are computed once (the *_cross_kv graph) and gathered per sequence, as
// is the answer decoder's encoder_attention_mask over each input's question.
// The cache lives in the runner's worker thread (decoder-state.ts), next to the session: this class is
// the caller's handle on it, sending token ids and parent rows and receiving the last logits.
import { tf } from '../engine/backend.js';
import type { CachedDecoder } from '../eval/generate.js';
import type { CacheLayout } from './decoder-state.js';
import type { HostTensor } from './session.js';
import type { SyncOnnxRunner } from './sync-runner.js';

export class OnnxCachedDecoder implements CachedDecoder {
  /** Sequences in the worker's cache (0 before start). */
  private live = 0;
  private readonly inputs: number;
  private readonly id: number;

  /**
   * Computes `graphs.cross` over `states` ([inputs, T, width]) in `runner`'s worker and keeps it there
   * for `graphs.decoder`'s steps; `layout`: the decoder's cache; `mask`: the answer decoder's
   * encoder_attention_mask for every input ([inputs, T] int64), fed per sequence with the cross keys/values.
   */
  constructor(
    private readonly runner: SyncOnnxRunner,
    private readonly graphs: { cross: string; decoder: string },
    states: HostTensor,
    layout: CacheLayout,
    mask?: HostTensor,
  ) {
    this.inputs = states.dims[0]!;
    this.id = runner.openDecoder({ crossGraph: graphs.cross, decoderGraph: graphs.decoder, states, mask, layout });
  }

  start(prefix: readonly (readonly number[])[], rows: readonly number[]): tf.Tensor {
    if (prefix.length !== rows.length) throw new Error(`OnnxCachedDecoder: ${prefix.length} sequences but ${rows.length} rows`);
    const bad = rows.find((r) => !Number.isInteger(r) || r < 0 || r >= this.inputs);
    if (bad !== undefined) throw new Error(`OnnxCachedDecoder: row ${bad} names no input (${this.inputs} inputs)`);
    const len = prefix[0]?.length ?? 0;
    prefix.forEach((s, i) => {
      if (s.length !== len) throw new Error(`OnnxCachedDecoder: prefix ${i} has ${s.length} tokens, prefix 0 has ${len}`);
    });
    return this.decode({ ids: Int32Array.from(prefix.flat()), count: len, rows: [...rows] });
  }

  step(tokens: readonly number[], parents: readonly number[]): tf.Tensor {
    if (this.live === 0) throw new Error('OnnxCachedDecoder: step before start');
    if (tokens.length !== parents.length) throw new Error(`OnnxCachedDecoder: ${tokens.length} tokens but ${parents.length} parents`);
    const bad = parents.find((p) => !Number.isInteger(p) || p < 0 || p >= this.live);
    if (bad !== undefined) throw new Error(`OnnxCachedDecoder: parent ${bad} names no sequence (${this.live} live)`);
    return this.decode({ ids: Int32Array.from(tokens), count: 1, parents: [...parents] });
  }

  /** Frees the worker's cache; the decoder cannot be used after. */
  dispose(): void {
    this.live = 0;
    this.runner.closeDecoder(this.id);
  }

  private decode(run: { ids: Int32Array; count: number; rows?: number[]; parents?: number[] }): tf.Tensor {
    // A failed run leaves no cache in the worker: no step may follow it.
    this.live = 0;
    const logits = this.runner.decode(this.id, this.graphs.decoder, run);
    this.live = logits.dims[0]!;
    return tf.tensor2d(logits.data, [logits.dims[0]!, logits.dims[1]!]);
  }
}
