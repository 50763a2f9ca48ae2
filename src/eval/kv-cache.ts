// A key/value cache over BLIP's text decoder for generation. Cross-attention keys and values over the
// image (or question) states are projected once per input; self-attention keys and values grow by one
// token per step and follow the search: a beam that continues another beam takes its cache row.
import { tf } from '../engine/backend.js';
import type { TextDecoder } from '../models/blip.js';
import { crossAttentionMask } from '../models/text.js';
import type { KeyValue } from '../models/text.js';
import type { CachedDecoder } from './generate.js';

const isIdentity = (index: readonly number[], length: number) => index.length === length && index.every((p, i) => p === i);

function gatherAll(kvs: readonly KeyValue[], index: tf.Tensor1D): KeyValue[] {
  return kvs.map((kv) => ({ key: tf.gather(kv.key, index), value: tf.gather(kv.value, index) }));
}

/**
 * Runs `f` in a tidy and keeps what it returns: the cache outlives the caller's tidy (the searches
 * call the decoder inside one).
 */
function kept<T>(f: () => T): T {
  return tf.tidy(() => {
    const out = f();
    for (const t of collect(out)) tf.keep(t);
    return out as unknown as tf.TensorContainer;
  }) as unknown as T;
}

function collect(x: unknown): tf.Tensor[] {
  if (x instanceof tf.Tensor) return [x];
  if (Array.isArray(x)) return x.flatMap(collect);
  if (x && typeof x === 'object') return Object.values(x).flatMap(collect);
  return [];
}

function disposeAll(kvs: readonly KeyValue[] | undefined): void {
  for (const kv of kvs ?? []) tf.dispose([kv.key, kv.value]);
}

/** The cache of one generation: see cachedDecoder. */
class KeyValueCache implements CachedDecoder {
  /** Cross keys/values and additive mask per input row, computed once. */
  private readonly inputCross: KeyValue[];
  private readonly inputMask?: tf.Tensor;
  /** Per live sequence: its input row, its cross keys/values (gathered from the inputs') and its self keys/values. */
  private rows: number[] = [];
  private cross: KeyValue[] = [];
  private crossMask?: tf.Tensor;
  private past: KeyValue[] = [];

  constructor(
    private readonly decoder: TextDecoder,
    encoderStates: tf.Tensor,
    encoderMask?: tf.Tensor,
  ) {
    this.inputCross = kept(() => decoder.bert.crossKeyValues(encoderStates));
    this.inputMask = encoderMask && kept(() => crossAttentionMask(encoderMask));
  }

  start(prefix: readonly (readonly number[])[], rows: readonly number[]): tf.Tensor {
    if (prefix.length !== rows.length) throw new Error(`cachedDecoder: ${prefix.length} sequences but ${rows.length} rows`);
    const inputs = this.inputCross[0]?.key.shape[0] ?? 0;
    const bad = rows.find((r) => !Number.isInteger(r) || r < 0 || r >= inputs);
    if (bad !== undefined) throw new Error(`cachedDecoder: row ${bad} names no input (${inputs} inputs)`);
    this.clear();
    this.selectRows(rows);
    const len = prefix[0]?.length ?? 0;
    const flat = new Int32Array(prefix.length * len);
    prefix.forEach((s, i) => {
      if (s.length !== len) throw new Error(`cachedDecoder: prefix ${i} has ${s.length} tokens, prefix 0 has ${len}`);
      flat.set(s, i * len);
    });
    return this.run(tf.tensor2d(flat, [prefix.length, len], 'int32'));
  }

  step(tokens: readonly number[], parents: readonly number[]): tf.Tensor {
    const live = this.rows.length;
    if (live === 0) throw new Error('cachedDecoder: step before start');
    if (tokens.length !== parents.length) throw new Error(`cachedDecoder: ${tokens.length} tokens but ${parents.length} parents`);
    const bad = parents.find((p) => !Number.isInteger(p) || p < 0 || p >= live);
    if (bad !== undefined) throw new Error(`cachedDecoder: parent ${bad} names no sequence (${live} live)`);
    if (!isIdentity(parents, live)) {
      // Beams reorder or finished sequences leave: each new sequence takes its parent's cache row.
      const index = tf.tensor1d(Int32Array.from(parents), 'int32');
      const past = kept(() => gatherAll(this.past, index));
      index.dispose();
      disposeAll(this.past);
      this.past = past;
      this.selectRows(parents.map((p) => this.rows[p]!));
    }
    return this.run(tf.tensor2d(Int32Array.from(tokens), [tokens.length, 1], 'int32'));
  }

  dispose(): void {
    this.clear();
    disposeAll(this.inputCross);
    this.inputMask?.dispose();
  }

  /** Decodes `ids` [N, t] after the cache, keeps the grown cache, returns logits [N, vocab]. */
  private run(ids: tf.Tensor2D): tf.Tensor {
    const past = this.past.length > 0 ? this.past : undefined;
    const { logits, keyValues } = tf.tidy(
      () => this.decoder.decodeStep(ids, { past, cross: this.cross, crossMask: this.crossMask }) as unknown as tf.TensorContainer,
    ) as unknown as { logits: tf.Tensor; keyValues: KeyValue[] };
    // The logits stay the caller's to free (its tidy does); only the cache is kept.
    for (const t of collect(keyValues)) tf.keep(t);
    ids.dispose();
    disposeAll(this.past);
    this.past = keyValues;
    return logits;
  }

  /** Points each live sequence at its input's cross keys/values, gathering only when the rows change. */
  private selectRows(rows: readonly number[]): void {
    if (rows.length === this.rows.length && rows.every((r, i) => r === this.rows[i])) return;
    disposeAll(this.cross);
    this.crossMask?.dispose();
    const index = tf.tensor1d(Int32Array.from(rows), 'int32');
    this.cross = kept(() => gatherAll(this.inputCross, index));
    this.crossMask = this.inputMask && kept(() => tf.gather(this.inputMask!, index));
    index.dispose();
    this.rows = [...rows];
  }

  private clear(): void {
    disposeAll(this.past);
    disposeAll(this.cross);
    this.crossMask?.dispose();
    this.past = [];
    this.cross = [];
    this.crossMask = undefined;
    this.rows = [];
  }
}

/**
 * A CachedDecoder over `decoder` cross-attending to `encoderStates` [inputs, T, W] (image tokens,
 * or question states under `encoderMask` [inputs, T], 1 = attend; all attended when omitted).
 * Dispose it when the generation is done.
 */
export function cachedDecoder(decoder: TextDecoder, encoderStates: tf.Tensor, encoderMask?: tf.Tensor): CachedDecoder {
  return new KeyValueCache(decoder, encoderStates, encoderMask);
}
