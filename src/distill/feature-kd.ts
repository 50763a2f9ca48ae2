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

/** 'cosine': mean over rows of 1 − cos(student, teacher); 'mse': mean over all entries of (s − t)². */
export function featureKd(student: tf.Tensor, teacher: tf.Tensor, kind: FeatureKdKind): tf.Scalar {
  if (!sameShape(student.shape, teacher.shape)) {
    throw new Error(`featureKd: student features ${fmt(student.shape)} and teacher features ${fmt(teacher.shape)} differ; both must be [B, P] in a projection space of the same width`);
  }
  expectRank(student, 2, 'featureKd: features [B, P]');
  return tf.tidy(() => {
    if (kind === 'mse') return tf.mean(tf.squaredDifference(student, teacher)) as tf.Scalar;
    return tf.mean(tf.sub(1, tf.sum(tf.mul(unitRows(student), unitRows(teacher)), -1))) as tf.Scalar;
  });
}
