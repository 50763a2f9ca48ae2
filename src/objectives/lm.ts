// Language-modelling loss of BLIP's decoder: next-token cross-entropy with label smoothing.
import { tf } from '../engine/backend.js';

/** Label id that marks a position as ignored (padding), as PyTorch's ignore_index. */
export const IGNORE_INDEX = -100;

/**
 * Mean smoothed cross-entropy of logits[:, t] predicting labels[:, t+1] over positions whose label
 * is not IGNORE_INDEX: (1 − ε)·NLL + ε·mean over classes of −log p, as torch's CrossEntropyLoss.
 */
export function captionLoss(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing = 0.1): tf.Scalar {
  return tf.tidy(() => {
    const [batch, length, vocab] = logits.shape as [number, number, number];
    const predicted = logits.slice([0, 0, 0], [batch, length - 1, vocab]).reshape([-1, vocab]);
    const targets = labels.slice([0, 1], [batch, length - 1]).reshape([-1]).toInt();
    const valid = tf.notEqual(targets, IGNORE_INDEX).toFloat();
    const logProbs = tf.logSoftmax(predicted);
    const safeTargets = tf.where(tf.equal(targets, IGNORE_INDEX), tf.zerosLike(targets), targets);
    const nll = tf.neg(tf.sum(tf.mul(logProbs, tf.oneHot(safeTargets, vocab)), -1));
    const smooth = tf.neg(tf.mean(logProbs, -1));
    const perToken = tf.add(tf.mul(nll, 1 - labelSmoothing), tf.mul(smooth, labelSmoothing));
    return tf.div(tf.sum(tf.mul(perToken, valid)), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
  });
}
