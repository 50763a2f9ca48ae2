// Multi-head scaled dot-product attention, shared by the image and text towers.
import { tf } from '../engine/backend.js';
import { matmul } from '../engine/ops.js';

/** [B, T, H·d] → [B, H, T, d] */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor {
  const [b, t, width] = x.shape as [number, number, number];
  return x.reshape([b, t, heads, width / heads]).transpose([0, 2, 1, 3]);
}

/** [B, H, T, d] → [B, T, H·d] */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  return x.transpose([0, 2, 1, 3]).reshape([b, t, h * d]);
}

export interface AttentionResult {
  /** [B, Tq, H·d] */
  context: tf.Tensor;
  /** Post-softmax probabilities [B, H, Tq, Tk]. */
  probs: tf.Tensor;
}

/**
 * softmax(Q·Kᵀ/√d + mask)·V on already-projected [B, T, H·d] inputs. `additiveMask` broadcasts to
 * [B, H, Tq, Tk] (0 where allowed, a large negative number where not).
 */
export function multiHeadAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  heads: number,
  additiveMask?: tf.Tensor,
): AttentionResult {
  const q = splitHeads(query, heads);
  const k = splitHeads(key, heads);
  const v = splitHeads(value, heads);
  const headWidth = q.shape[3]!;
  let scores = tf.mul(matmul(q, k, false, true), 1 / Math.sqrt(headWidth));
  if (additiveMask) scores = tf.add(scores, additiveMask);
  const probs = tf.softmax(scores);
  return { context: mergeHeads(matmul(probs, v)), probs };
}

/** Multiply-accumulates of the two attention matmuls (scores and weighted sum). */
export function attentionMacs(queries: number, keys: number, width: number): number {
  return 2 * queries * keys * width;
}
