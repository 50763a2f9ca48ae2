// Hidden-state distillation (TinyBERT-style): MSE between the adapted student states and the teacher
// states of each mapped layer pair, averaged over the pairs.
import { tf } from '../engine/backend.js';
import type { LayerAdaptors } from './adaptor.js';
import { expectRank, fmt, sameShape } from './checks.js';
import type { LayerPair } from './layer-map.js';

function stateOf(states: readonly tf.Tensor[], layer: number, who: string): tf.Tensor {
  const x = states[layer];
  if (!x) throw new Error(`hidden KD: the ${who} has hidden states 0..${states.length - 1}; the layer map asks for layer ${layer}`);
  expectRank(x, 3, `hidden KD: ${who} layer ${layer} states [B, T, W]`);
  return x;
}

/**
 * Mean over `pairs` of the MSE between adaptors.forward(s, student[s]) and teacher[t], over tokens and
 * width. `student` and `teacher` are hiddenStates arrays (index 0: embeddings, ℓ: layer ℓ) of [B, T, W]
 * with the same B and T; `tokenMask` [B, T] (1 = counted) leaves out text pads.
 */
export function hiddenKd(
  student: readonly tf.Tensor[],
  teacher: readonly tf.Tensor[],
  pairs: readonly LayerPair[],
  adaptors: LayerAdaptors,
  tokenMask?: tf.Tensor,
): tf.Scalar {
  if (pairs.length === 0) throw new Error('hidden KD: the layer map has no pairs');
  return tf.tidy(() => {
    const mask = tokenMask?.toFloat();
    const perLayer = pairs.map(([s, t]) => {
      const x = stateOf(student, s, 'student');
      const y = stateOf(teacher, t, 'teacher');
      if (!sameShape(x.shape.slice(0, 2), y.shape.slice(0, 2))) {
        throw new Error(`hidden KD pair [${s}, ${t}]: student states ${fmt(x.shape)} and teacher states ${fmt(y.shape)} differ in [B, T]; the token counts must match`);
      }
      if (mask && !sameShape(mask.shape, y.shape.slice(0, 2))) throw new Error(`hidden KD: token mask ${fmt(mask.shape)} must be [B, T] = ${fmt(y.shape.slice(0, 2))}`);
      const adapted = adaptors.forward(s, x);
      if (adapted.shape[2] !== y.shape[2]) {
        throw new Error(`hidden KD pair [${s}, ${t}]: adapted student states ${fmt(adapted.shape)} and teacher states ${fmt(y.shape)} differ in width`);
      }
      if (!mask) return tf.mean(tf.squaredDifference(adapted, y));
      const perToken = tf.mean(tf.squaredDifference(adapted, y), -1);
      return tf.div(tf.sum(tf.mul(perToken, mask)), tf.maximum(tf.sum(mask), 1));
    });
    return tf.div(tf.addN(perLayer), pairs.length) as tf.Scalar;
  });
}
