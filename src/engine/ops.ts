// Differentiable building-block operations shared by every model. Each exists because the plain
// tfjs op is slow or missing a gradient on one of our backends; the math is the textbook one.
import { tf } from './backend.js';

/** The function type tf.customGrad takes (tfjs does not export it by name). */
type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** Swaps the last two axes. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return tf.transpose(x, perm);
}

function plainMatmul(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  // tfjs-wasm multiplies with a transposed operand through a slow path (~10x slower here):
  // transpose explicitly, then multiply plainly. The tidy frees the transposed copy at once: inside
  // a custom gradient nothing else would until the whole step ends.
  return tf.tidy(() => tf.matMul(transposeA ? transposeLast2(a) : a, transposeB ? transposeLast2(b) : b));
}

/**
 * op(a)·op(b) for rank-2 or equally batched rank-3/4 operands, where op transposes the last two axes
 * when asked. Its gradient (itself two matmuls) also transposes explicitly; tfjs's own would not.
 */
export function matmul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  const f = tf.customGrad(((x: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x, y]);
    return {
      value: plainMatmul(x, y, transposeA, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sy] = saved as [tf.Tensor, tf.Tensor];
        const da = transposeA ? plainMatmul(sy, dy, transposeB, true) : plainMatmul(dy, sy, false, !transposeB);
        const db = transposeB ? plainMatmul(dy, sx, true, transposeA) : plainMatmul(sx, dy, !transposeA, false);
        return [da, db];
      },
    };
  }) as CustomGradFn);
  return f(a, b);
}

/** y = x·Wᵀ + b over the last axis, with W stored [out, in] as in PyTorch checkpoints. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inFeatures = weight.shape[1]!;
  const lead = x.shape.slice(0, -1);
  const y = matmul(x.reshape([-1, inFeatures]), weight, false, true);
  const withBias = bias ? tf.add(y, bias) : y;
  return withBias.reshape([...lead, weight.shape[0]!]);
}

/**
 * Rows (slices along axis 0) of `table` picked by integer `ids`: embedding lookups, and picking
 * hard-negative examples out of a batch. tfjs-wasm has no kernel for the gradient of a gather
 * (UnsortedSegmentSum), so the gradient is a scatter-add, which it has.
 */
export function gatherRows(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const [rows, ...rowShape] = table.shape;
  const width = rowShape.reduce((a, b) => a * b, 1);
  const flatIds = ids.reshape([-1]).toInt();
  const f = tf.customGrad(((t: tf.Tensor, save: tf.GradSaveFunc) => {
    save([flatIds]);
    return {
      value: tf.gather(t, flatIds),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const idx = saved[0]!.reshape([-1, 1]);
        return tf.scatterND(idx, dy.reshape([-1, width]), [rows!, width]).reshape(t.shape);
      },
    };
  }) as CustomGradFn);
  return f(table).reshape([...ids.shape, ...rowShape]);
}

/** GELU with the exact (erf) form, as BLIP's `hidden_act="gelu"`. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const { mean, variance } = tf.moments(x, axis, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, weight), bias);
}
