// Soft-target distillation (Hinton et al. 2015): KL(teacher ‖ student) at temperature T, times T² so
// that the gradients keep their size as T changes. Contrastive KD (rows of the image→text and
// text→image logits), ITM KD ([N, 2]) and per-token LM KD all reduce to it.
import { tf } from '../engine/backend.js';
import { expectTemperature, fmt, sameShape } from './checks.js';

/**
 * Σ p·(log p − log q) over the last axis, from log-probabilities; classes where the teacher's p is 0
 * (a −∞ logit, e.g. a masked candidate) add 0 instead of 0·(−∞) = NaN, whatever the student says there.
 * They are told by log p = −∞, not by p = 0: the native backend's exp never returns less than 1.2e-38.
 */
export function klFromLogProbs(studentLogProbs: tf.Tensor, teacherLogProbs: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const terms = tf.mul(tf.exp(teacherLogProbs), tf.sub(teacherLogProbs, studentLogProbs));
    return tf.sum(tf.where(tf.greater(teacherLogProbs, -Infinity), terms, tf.zerosLike(terms)), -1);
  });
}

/**
 * Mean over rows of KL(softmax(teacher/T) ‖ softmax(student/T))·T². Rows are all leading axes, the
 * last axis is the classes; `rowMask` (the leading shape, 1 = counted) leaves rows out of the mean.
 * The teacher is a constant: compute its logits outside the gradient tape.
 */
export function softKl(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature: number, rowMask?: tf.Tensor): tf.Scalar {
  expectTemperature(temperature, 'softKl');
  if (!sameShape(studentLogits.shape, teacherLogits.shape)) {
    throw new Error(`softKl: student logits ${fmt(studentLogits.shape)} and teacher logits ${fmt(teacherLogits.shape)} differ`);
  }
  if (studentLogits.rank < 1) throw new Error('softKl: logits need a class axis, got a scalar');
  const rows = studentLogits.shape.slice(0, -1);
  if (rowMask && !sameShape(rowMask.shape, rows)) {
    throw new Error(`softKl: row mask ${fmt(rowMask.shape)} must have the logits' leading shape ${fmt(rows)}`);
  }
  return tf.tidy(() => {
    const perRow = klFromLogProbs(tf.logSoftmax(tf.div(studentLogits, temperature)), tf.logSoftmax(tf.div(teacherLogits, temperature)));
    const scaled = tf.mul(perRow, temperature * temperature);
    if (!rowMask) return tf.mean(scaled) as tf.Scalar;
    const mask = rowMask.toFloat();
    return tf.div(tf.sum(tf.mul(scaled, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}
