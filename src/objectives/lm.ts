// Language-modelling loss of BLIP's decoder: next-token cross-entropy with label smoothing.
import { tf } from '../engine/backend.js';
import { gatherRows } from '../engine/ops.js';

/** Label id that marks a position as ignored (padding), as PyTorch's ignore_index. */
export const IGNORE_INDEX = -100;

/**
 * Per-position smoothed cross-entropy [B, T] of logits[:, t] predicting labels[:, t+1] — (1 − ε)·NLL
 * + ε·mean over classes of −log p, as torch's CrossEntropyLoss — and the mask of counted positions.
 * The shift happens on the (small) labels, never on the [B, T, vocab] logits, and the picked log-prob
 * is gathered rather than multiplied by a one-hot matrix: both keep the backward pass vocab-cheap.
 */
function smoothedTokenLoss(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing: number): { perToken: tf.Tensor; valid: tf.Tensor } {
  const [batch, length, vocab] = logits.shape as [number, number, number];
  const raw = labels.dataSync();
  const targets = new Int32Array(batch * length);
  const valid = new Float32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      const next = t + 1 < length ? Number(raw[b * length + t + 1]) : IGNORE_INDEX;
      const i = b * length + t;
      if (next !== IGNORE_INDEX) {
        if (next < 0 || next >= vocab) throw new Error(`label ${next} at [${b}, ${t + 1}] is outside the vocabulary of ${vocab}`);
        targets[i] = i * vocab + next;
        valid[i] = 1;
      } else targets[i] = i * vocab;
    }
  }
  const logProbs = tf.logSoftmax(logits.reshape([batch * length, vocab]));
  const picked = gatherRows(logProbs.reshape([batch * length * vocab, 1]), tf.tensor1d(targets, 'int32')).reshape([batch, length]);
  const smooth = tf.mean(logProbs, -1).reshape([batch, length]);
  const perToken = tf.neg(tf.add(tf.mul(picked, 1 - labelSmoothing), tf.mul(smooth, labelSmoothing)));
  return { perToken, valid: tf.tensor2d(valid, [batch, length]) };
}

/** Mean smoothed cross-entropy over the counted (non-IGNORE_INDEX) next-token positions. */
export function captionLoss(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing = 0.1): tf.Scalar {
  return tf.tidy(() => {
    const { perToken, valid } = smoothedTokenLoss(logits, labels, labelSmoothing);
    return tf.div(tf.sum(tf.mul(perToken, valid)), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
  });
}

/** Per-sequence sums of the smoothed cross-entropy [B] (BLIP's reduction='none' for VQA answers). */
export function sequenceLoss(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing = 0.1): tf.Tensor1D {
  return tf.tidy(() => {
    const { perToken, valid } = smoothedTokenLoss(logits, labels, labelSmoothing);
    return tf.sum(tf.mul(perToken, valid), -1) as tf.Tensor1D;
  });
}
