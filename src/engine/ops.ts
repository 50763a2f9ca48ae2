// Differentiable building-block operations shared by every model. Each exists because the plain
// tfjs op is slow or missing a gradient on one of our backends; the math is the textbook one.
// On the native backend, linear, GELU, LayerNorm, softmax, attention and AdamW run as fused kernels
// (forward and backward, through tf.customGrad); elsewhere they are compositions of tfjs ops.
import { tf } from './backend.js';
import { FUSED } from './native/kernels.js';

const onNative = () => tf.getBackend() === 'native';

function runFused(name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs) as tf.Tensor;
}

function runFusedN(name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] {
  return tf.engine().runKernel(name, inputs, attrs) as unknown as tf.Tensor[];
}

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
  // BLAS takes transposed operands at full speed.
  if (onNative()) return tf.matMul(a, b, transposeA, transposeB);
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
  if (bias && onNative() && [x, weight, bias].every((t) => t.dtype === 'float32') && weight.rank === 2 && bias.rank === 1) {
    // One kernel: the bias is the GEMM's starting value. Backward: dx = dy·W, dW = dyᵀ·x, db = Σ dy.
    const f = tf.customGrad(((v: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      save([v, w]);
      return {
        value: runFused(FUSED.linear, { x: v, w, b }),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sv, sw] = saved as [tf.Tensor, tf.Tensor];
          return [tf.matMul(dy, sw), tf.matMul(dy, sv, true, false), tf.sum(dy, 0)];
        },
      };
    }) as CustomGradFn);
    return f(x.reshape([-1, inFeatures]), weight, bias).reshape([...lead, weight.shape[0]!]);
  }
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
  if (onNative() && x.dtype === 'float32') {
    const f = tf.customGrad(((v: tf.Tensor, save: tf.GradSaveFunc) => {
      save([v]);
      return {
        value: runFused(FUSED.gelu, { x: v }),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runFused(FUSED.geluGrad, { x: saved[0]!, dy }),
      };
    }) as CustomGradFn);
    return f(x);
  }
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  if (onNative() && x.dtype === 'float32' && weight.rank === 1 && bias.rank === 1) {
    const f = tf.customGrad(((v: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      const [y, mean, rstd] = runFusedN(FUSED.layerNorm, { x: v, gamma: g, beta: b }, { eps });
      save([v, g, mean!, rstd!]);
      return {
        value: y!,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sg, sm, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          return runFusedN(FUSED.layerNormGrad, { dy, x: sx, gamma: sg, mean: sm, rstd: sr });
        },
      };
    }) as CustomGradFn);
    return f(x, weight, bias);
  }
  const axis = x.rank - 1;
  const { mean, variance } = tf.moments(x, axis, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, weight), bias);
}

/** Softmax over the last axis; on native its backward is one fused kernel too. */
export function softmax(x: tf.Tensor): tf.Tensor {
  if (onNative() && x.dtype === 'float32') {
    const f = tf.customGrad(((v: tf.Tensor, save: tf.GradSaveFunc) => {
      const y = tf.softmax(v);
      save([y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runFused(FUSED.softmaxGrad, { y: saved[0]!, dy }),
      };
    }) as CustomGradFn);
    return f(x);
  }
  return tf.softmax(x);
}

export interface AttentionResult {
  /** [B, Tq, H·d] */
  context: tf.Tensor;
  /** Post-softmax probabilities [B, H, Tq, Tk]. */
  probs: tf.Tensor;
}

/**
 * softmax(Q·Kᵀ/√d + mask)·V on already-projected [B, T, H·d] inputs; `additiveMask` (a constant: it
 * gets no gradient) broadcasts to [B, H, Tq, Tk]. On native, heads are read in place (no transposes)
 * and the scores, softmax and their backward are fused; elsewhere it is the textbook composition.
 */
export function attention(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, heads: number, additiveMask?: tf.Tensor): AttentionResult {
  const [b, tq, width] = query.shape as [number, number, number];
  const d = width / heads;
  const scale = 1 / Math.sqrt(d);
  const fusable = [query, key, value, ...(additiveMask ? [additiveMask] : [])].every((t) => t.dtype === 'float32');
  if (onNative() && fusable && query.rank === 3 && key.rank === 3 && (additiveMask?.rank ?? 0) <= 4) {
    const attrs = { heads, scale };
    const probsOf = tf.customGrad(((q: tf.Tensor, k: tf.Tensor, save: tf.GradSaveFunc) => {
      const p = runFused(FUSED.attnProbs, additiveMask ? { q, k, mask: additiveMask } : { q, k }, attrs);
      save([p, q, k]);
      return {
        value: p,
        gradFunc: (dp: tf.Tensor, saved: tf.Tensor[]) => {
          const [sp, sq, sk] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          return runFusedN(FUSED.attnProbsGrad, { p: sp, dp, q: sq, k: sk }, attrs);
        },
      };
    }) as CustomGradFn);
    const contextOf = tf.customGrad(((p: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
      save([p, v]);
      return {
        value: runFused(FUSED.attnContext, { p, v }, attrs),
        gradFunc: (dout: tf.Tensor, saved: tf.Tensor[]) => {
          const [sp, sv] = saved as [tf.Tensor, tf.Tensor];
          return runFusedN(FUSED.attnContextGrad, { p: sp, v: sv, dout });
        },
      };
    }) as CustomGradFn);
    const probs = probsOf(query, key);
    return { context: contextOf(probs, value), probs };
  }
  const split = (x: tf.Tensor) => x.reshape([b, x.shape[1]!, heads, d]).transpose([0, 2, 1, 3]);
  let scores = tf.mul(matmul(split(query), split(key), false, true), scale);
  if (additiveMask) scores = tf.add(scores, additiveMask);
  const probs = softmax(scores);
  const context = matmul(probs, split(value)).transpose([0, 2, 1, 3]).reshape([b, tq, width]);
  return { context, probs };
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay of this parameter (0 for norms and biases). */
  weightDecay: number;
  /** Bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ of this step. */
  bias1: number;
  bias2: number;
}

/**
 * One torch.optim.AdamW update of `param` from `grad`, with its moments `m` and `v` (variables owned by
 * the optimizer, updated here). On the native backend it is one fused kernel that updates the moments
 * in place; elsewhere the same arithmetic in tfjs ops.
 */
export function adamwUpdate(param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamWHyper): void {
  if (onNative() && param.dtype === 'float32') {
    const next = runFused(FUSED.adamw, { p: param, g: grad, m, v }, { ...h });
    param.assign(next);
    next.dispose();
    return;
  }
  tf.tidy(() => {
    const nm = tf.add(tf.mul(m, h.beta1), tf.mul(grad, 1 - h.beta1));
    const nv = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(grad), 1 - h.beta2));
    m.assign(nm);
    v.assign(nv);
    const denom = tf.add(tf.div(tf.sqrt(nv), Math.sqrt(h.bias2)), h.eps);
    const decayed = h.weightDecay > 0 ? tf.mul(param, 1 - h.lr * h.weightDecay) : param;
    param.assign(tf.sub(decayed, tf.mul(tf.div(nm, denom), h.lr / h.bias1)));
  });
}
