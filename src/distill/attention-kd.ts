// Attention distillation: KL(teacher ‖ student) between the attention probability maps of mapped
// layers, for self-, cross- or decoder attention alike.
import { tf } from '../engine/backend.js';
import { expectRank, fmt, sameShape } from './checks.js';
import type { LayerPair } from './layer-map.js';

/**
 * Student probabilities are floored here inside the logarithm: where the student's softmax underflows
 * to 0 on a key the teacher attends to, the KL stays finite (and large) rather than Infinity.
 */
const FLOOR = 1e-30;

function mapOf(maps: readonly tf.Tensor[], layer: number, who: string): tf.Tensor {
  const x = maps[layer - 1];
  if (!x) throw new Error(`attention KD: the ${who} has attention maps of layers 1..${maps.length}; the layer map asks for layer ${layer}`);
  expectRank(x, 4, `attention KD: ${who} layer ${layer} map [B, H, Tq, Tk]`);
  return x;
}

/**
 * KL per query row [B, H, Tq] of probability maps. Masked-out keys have probability 0 in both maps:
 * 0·log 0 counts 0, and the logarithms only ever see positive numbers, so neither the value nor the
 * gradient becomes NaN there.
 */
function rowKl(student: tf.Tensor, teacher: tf.Tensor): tf.Tensor {
  const attended = tf.greater(teacher, 0);
  const one = tf.onesLike(teacher);
  const logT = tf.log(tf.where(attended, teacher, one));
  const logS = tf.log(tf.maximum(tf.where(attended, student, one), FLOOR));
  return tf.sum(tf.mul(teacher, tf.sub(logT, logS)), -1);
}

/**
 * Mean over `pairs`, heads and counted query rows of KL(teacher ‖ student). `student` and `teacher`
 * are attentions arrays (index ℓ − 1: layer ℓ) of [B, H, Tq, Tk] maps. When the head counts differ,
 * there is no head-to-head correspondence: both maps are averaged over their heads first (a mean of
 * distributions is a distribution) and compared as one. `queryMask` [B, Tq] (1 = counted) leaves out
 * the rows of padded queries.
 */
export function attentionKd(student: readonly tf.Tensor[], teacher: readonly tf.Tensor[], pairs: readonly LayerPair[], queryMask?: tf.Tensor): tf.Scalar {
  if (pairs.length === 0) throw new Error('attention KD: the layer map has no pairs');
  return tf.tidy(() => {
    const mask = queryMask?.toFloat();
    const perLayer = pairs.map(([s, t]) => {
      let x = mapOf(student, s, 'student');
      let y = mapOf(teacher, t, 'teacher');
      const [b, , tq, tk] = y.shape as [number, number, number, number];
      if (!sameShape([x.shape[0]!, x.shape[2]!, x.shape[3]!], [b, tq, tk])) {
        throw new Error(`attention KD pair [${s}, ${t}]: student map ${fmt(x.shape)} and teacher map ${fmt(y.shape)} differ in [B, ·, Tq, Tk]`);
      }
      if (mask && !sameShape(mask.shape, [b, tq])) throw new Error(`attention KD: query mask ${fmt(mask.shape)} must be [B, Tq] = [${b},${tq}]`);
      if (x.shape[1] !== y.shape[1]) {
        x = tf.mean(x, 1, true);
        y = tf.mean(y, 1, true);
      }
      const perRow = tf.mean(rowKl(x, y), 1); // over heads: [B, Tq]
      if (!mask) return tf.mean(perRow);
      return tf.div(tf.sum(tf.mul(perRow, mask)), tf.maximum(tf.sum(mask), 1));
    });
    return tf.div(tf.addN(perLayer), pairs.length) as tf.Scalar;
  });
}
