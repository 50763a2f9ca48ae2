// Cross-entropy of a model's vocabulary distribution against a soft target, the sum that the LM loss
// (a label-smoothed one-hot) and LM KD (a teacher's distribution) both reduce to. On the native backend
// a fused kernel reads each [rows, V] block of logits a few times and allocates only its output; the
// composition of tfjs ops allocates a fresh [rows, V] tensor per op, which made it more than half of a
// distillation step (profiled: ~3 s of 5, mostly Sub, Mul, Exp and OneHot on [256, 30524] blocks).
import { tf } from './backend.js';
import { FUSED } from './native/kernels.js';

/**
 * The target distribution p of each row: softmax(logits / T) of a teacher's logits [rows, V], or sparse
 * (already at T): `tail` [rows] on every class plus (probs − tail) at `ids` (int32 [rows, k], probs
 * [rows, k]), as label smoothing or a top-k teacher with its tail spread evenly.
 */
export type SoftTarget = { logits: tf.Tensor } | { ids: tf.Tensor; probs: tf.Tensor; tail: tf.Tensor };

const onNative = () => tf.getBackend() === 'native';

function targetInputs(target: SoftTarget): tf.NamedTensorMap {
  return 'logits' in target ? { teacher: target.logits } : { ids: target.ids, probs: target.probs, tail: target.tail };
}

/** log softmax(x / T) as x/T − log Σ exp(x/T): one formula for both sides, so p against itself gives 0. */
function logSoftmaxAt(x: tf.Tensor, temperature: number): tf.Tensor {
  const z = tf.div(x, temperature);
  return tf.sub(z, tf.logSumExp(z, -1, true));
}

/** The target's probabilities [rows, V] (and, dense, their logs), for the composed path. */
function denseTarget(target: SoftTarget, classes: number, temperature: number): { probs: tf.Tensor; logProbs?: tf.Tensor } {
  if ('logits' in target) {
    const logProbs = logSoftmaxAt(target.logits, temperature);
    return { probs: tf.exp(logProbs), logProbs };
  }
  const [rows, k] = target.ids.shape as [number, number];
  const tail = target.tail.reshape([rows, 1]);
  const at = tf.stack([tf.tile(tf.range(0, rows, 1, 'int32').reshape([-1, 1]), [1, k]), target.ids], -1);
  return { probs: tf.add(tf.scatterND(at, tf.sub(target.probs, tail), [rows, classes]), tail) };
}

/**
 * Per row of `logits` [rows, V]: cross = Σ_j p_j·log q_j with q = softmax(logits / T), and for a dense
 * target negEntropy = Σ_j p_j·log p_j (zeros for a sparse one, whose caller knows its own). Not
 * differentiable: softCrossGrad is the gradient, for callers that recompute logits in their backward.
 */
export function softCross(logits: tf.Tensor, target: SoftTarget, temperature: number): { cross: tf.Tensor; negEntropy: tf.Tensor } {
  if (onNative()) {
    const [cross, negEntropy] = tf.engine().runKernel(FUSED.softXent, { z: logits, ...targetInputs(target) }, { temperature }) as unknown as tf.Tensor[];
    return { cross: cross!, negEntropy: negEntropy! };
  }
  return tf.tidy(() => {
    const { probs, logProbs } = denseTarget(target, logits.shape[1]!, temperature);
    const cross = tf.sum(tf.mul(probs, logSoftmaxAt(logits, temperature)), -1);
    return { cross, negEntropy: logProbs ? tf.sum(tf.mul(probs, logProbs), -1) : tf.zeros([logits.shape[0]!]) };
  });
}

/** scale[r]·(softmax(logits / T) − p) [rows, V]: the gradient of −Σ_r scale[r]·cross[r] with respect to logits / T. */
export function softCrossGrad(logits: tf.Tensor, target: SoftTarget, temperature: number, scale: tf.Tensor): tf.Tensor {
  if (onNative()) return tf.engine().runKernel(FUSED.softXentGrad, { z: logits, scale, ...targetInputs(target) }, { temperature }) as tf.Tensor;
  return tf.tidy(() => {
    const { probs } = denseTarget(target, logits.shape[1]!, temperature);
    return tf.mul(tf.sub(tf.softmax(tf.div(logits, temperature)), probs), scale.reshape([-1, 1]));
  });
}
