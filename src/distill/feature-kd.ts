// Distillation of the ITC features: the student's projected image or text feature pulled towards the
// teacher's, each in its own model's projection space (both of width P).
import { tf } from '../engine/backend.js';
import { expectRank, fmt, sameShape } from './checks.js';

export type FeatureKdKind = 'cosine' | 'mse';

/**
 * Rows over their L2 norms, as F.normalize(eps=1e-12); written with the squared norm so a zero row
 * gets gradient 0 rather than NaN (√ has an infinite slope at 0).
 */
function unitRows(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-24)));
}

/**
 * 'cosine': mean over rows of 1 − cos(student, teacher); 'mse': mean over all entries of (s − t)².
 * `rowMask` [B] (1 = counted) leaves rows out of the mean.
 */
export function featureKd(student: tf.Tensor, teacher: tf.Tensor, kind: FeatureKdKind, rowMask?: tf.Tensor): tf.Scalar {
  if (!sameShape(student.shape, teacher.shape)) {
    throw new Error(`featureKd: student features ${fmt(student.shape)} and teacher features ${fmt(teacher.shape)} differ; both must be [B, P] in a projection space of the same width`);
  }
  expectRank(student, 2, 'featureKd: features [B, P]');
  if (rowMask && !sameShape(rowMask.shape, [student.shape[0]!])) throw new Error(`featureKd: row mask ${fmt(rowMask.shape)} must be [B] = [${student.shape[0]}]`);
  return tf.tidy(() => {
    const perRow = kind === 'mse' ? tf.mean(tf.squaredDifference(student, teacher), -1) : tf.sub(1, tf.sum(tf.mul(unitRows(student), unitRows(teacher)), -1));
    if (!rowMask) return tf.mean(perRow) as tf.Scalar;
    const mask = rowMask.toFloat();
    return tf.div(tf.sum(tf.mul(perRow, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}
