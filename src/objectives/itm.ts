// Image-text matching (BLIP's ITM): each positive pair plus one hard negative image per text and
// one hard negative text per image, drawn from the softmax of their in-batch contrastive similarity
// at the model's temperature, so that close (hard) pairs dominate.
import { tf } from '../engine/backend.js';

/** A uniform [0, 1) source; callers pass a seeded one so runs (and resumed runs) repeat exactly. */
export type Uniform = () => number;

/**
 * For each row of `similarity` [B, B] (cosines), an index j ≠ i drawn ∝ softmax(row / temperature) + 1e-4,
 * BLIP's weights with its learnable temperature (0.07 at start), excluding j with the same id as i
 * (another caption of the same image is no negative).
 */
export function sampleHardNegatives(similarity: Float32Array, batch: number, ids: readonly number[], temperature: number, random: Uniform): number[] {
  if (!(temperature > 0)) throw new Error(`ITM: the sampling temperature must be positive, got ${temperature}`);
  const out: number[] = [];
  for (let i = 0; i < batch; i++) {
    const row = similarity.subarray(i * batch, (i + 1) * batch);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    const weights = Array.from(row, (v) => Math.exp((v - max) / temperature));
    for (const w of weights) sum += w;
    for (let j = 0; j < batch; j++) weights[j] = ids[j] === ids[i] ? 0 : weights[j]! / sum + 1e-4;
    const total = weights.reduce((a, b) => a + b, 0);
    if (total === 0) throw new Error(`ITM: batch item ${i} has no negative (every item shares its id); use batches of several images`);
    let r = random() * total;
    let pick = batch - 1;
    for (let j = 0; j < batch; j++) {
      r -= weights[j]!;
      if (r < 0 && weights[j]! > 0) {
        pick = j;
        break;
      }
    }
    while (weights[pick] === 0) pick--; // rounding left r ≥ 0: take the last allowed index
    out.push(pick);
  }
  return out;
}

/** Mean cross-entropy of ITM logits [3B, 2] against labels: B matches, then 2B non-matches. */
export function itmLoss(logits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const n = logits.shape[0]!;
    const batch = n / 3;
    const labels = tf.concat([tf.ones([batch], 'int32'), tf.zeros([2 * batch], 'int32')]);
    return tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, 2)), -1))) as tf.Scalar;
  });
}
