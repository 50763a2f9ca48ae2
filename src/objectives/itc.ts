// Image-text contrastive loss (BLIP's ITC): InfoNCE over the batch and a queue of momentum features,
// with soft targets that mix the momentum model's similarity distribution into the one-hot labels.
import { tf } from '../engine/backend.js';
import { matmul } from '../engine/ops.js';

/**
 * Positive-pair targets [B, B+Q]: 1 where the text belongs to the same image (by id), rows
 * normalised, as BLIP's `sim_targets` with idx. Without ids, the diagonal of the batch block.
 */
export function contrastiveTargets(batchIds: readonly number[], candidateIds: readonly number[]): tf.Tensor2D {
  const b = batchIds.length;
  const n = candidateIds.length;
  const data = new Float32Array(b * n);
  for (let i = 0; i < b; i++) {
    let count = 0;
    for (let j = 0; j < n; j++) if (candidateIds[j] === batchIds[i]) count++;
    if (count === 0) throw new Error(`contrastive targets: item ${i} (id ${batchIds[i]}) has no positive among the candidates`);
    for (let j = 0; j < n; j++) if (candidateIds[j] === batchIds[i]) data[i * n + j] = 1 / count;
  }
  return tf.tensor2d(data, [b, n]);
}

/** α·softmax(momentumLogits) + (1 − α)·hard: BLIP's momentum distillation targets. */
export function softTargets(momentumLogits: tf.Tensor, hard: tf.Tensor, alpha: number): tf.Tensor {
  if (alpha === 0) return hard;
  return tf.add(tf.mul(tf.softmax(momentumLogits), alpha), tf.mul(hard, 1 - alpha));
}

/** Mean over rows of the cross-entropy −Σ targets·log softmax(logits). */
export function softCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), targets), -1))) as tf.Scalar;
}

/** ITC's loss from its logits and targets in both directions: (L_i2t + L_t2i) / 2. */
export function symmetricItc(logits: { imageToText: tf.Tensor; textToImage: tf.Tensor }, targets: { imageToText: tf.Tensor; textToImage: tf.Tensor }): tf.Scalar {
  return tf.div(tf.add(softCrossEntropy(logits.imageToText, targets.imageToText), softCrossEntropy(logits.textToImage, targets.textToImage)), 2) as tf.Scalar;
}

export interface ItcInputs {
  /** L2-normalised features of the batch [B, P]. */
  imageFeatures: tf.Tensor;
  textFeatures: tf.Tensor;
  /** Candidates each side is contrasted with [B+Q, P]: momentum (or same) features of the batch, then the queue. */
  imageCandidates: tf.Tensor;
  textCandidates: tf.Tensor;
  /** Hard targets [B, B+Q] (contrastiveTargets). */
  targets: tf.Tensor;
  temperature: tf.Tensor | number;
  /** Momentum features' logits against the same candidates, for soft targets; omit for plain InfoNCE. */
  momentum?: { imageToText: tf.Tensor; textToImage: tf.Tensor; alpha: number };
}

/** (L_i2t + L_t2i) / 2. */
export function itcLoss(x: ItcInputs): tf.Scalar {
  return tf.tidy(() => {
    const logits = {
      imageToText: tf.div(matmul(x.imageFeatures, x.textCandidates, false, true), x.temperature),
      textToImage: tf.div(matmul(x.textFeatures, x.imageCandidates, false, true), x.temperature),
    };
    const targets = {
      imageToText: x.momentum ? softTargets(x.momentum.imageToText, x.targets, x.momentum.alpha) : x.targets,
      textToImage: x.momentum ? softTargets(x.momentum.textToImage, x.targets, x.momentum.alpha) : x.targets,
    };
    return symmetricItc(logits, targets);
  });
}
