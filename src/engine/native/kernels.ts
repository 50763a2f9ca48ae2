// Native kernel implementations. Each handles float32 inputs and the layouts that matter for
// training; anything else (other dtypes, rare layouts) goes to the cpu backend's kernel, which is
// registered under 'native' too. Kernels not listed here (Pad, Tile, Cast, OneHot, ArgMax, ...)
// are cheap or rare in our models and stay on the cpu implementation.
import * as tf from '@tensorflow/tfjs';
import { BINARY, REDUCE, UNARY } from './addon.js';
import type { NativeBackend } from './backend.js';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Out = tf.TensorInfo | tf.TensorInfo[];

/** The cpu backend's kernel function for a kernel name, used when a native kernel declines. */
function cpuKernel(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, 'cpu');
  if (!k) throw new Error(`cpu backend has no kernel ${name}`);
  return k.kernelFunc;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const isF32 = (...ts: tf.TensorInfo[]) => ts.every((t) => t.dtype === 'float32');

/** A kernel that runs `native` and falls back to the cpu kernel when that returns undefined. */
function kernel(name: string, native: (args: Args, be: NativeBackend) => Out | undefined): tf.KernelConfig {
  let fallback: tf.KernelFunc | undefined;
  return {
    kernelName: name,
    backendName: 'native',
    kernelFunc: ((args: Args) =>
      native(args, args.backend as NativeBackend) ?? (fallback ??= cpuKernel(name))(args as never)) as tf.KernelFunc,
  };
}

/** A kernel that only exists natively (the fused ops); ops.ts calls it on the native backend only. */
function own(name: string, f: (args: Args, be: NativeBackend) => Out): tf.KernelConfig {
  return { kernelName: name, backendName: 'native', kernelFunc: ((args: Args) => f(args, args.backend as NativeBackend)) as tf.KernelFunc };
}

function batchMatMul({ inputs, attrs }: Args, be: NativeBackend): Out | undefined {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const transA = Boolean(attrs?.transposeA), transB = Boolean(attrs?.transposeB);
  if (!isF32(a, b) || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const ra = a.shape.length, rb = b.shape.length;
  const m = transA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) return undefined; // the cpu kernel reports the mismatch
  const batchA = size(a.shape.slice(0, -2)), batchB = size(b.shape.slice(0, -2));
  // Only equal batches or a batch of one broadcast natively (tfjs's general rule is modular indexing).
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined;
  const batchShape = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const { info, values } = be.output([...batchShape, m, n]);
  if (m * n === 0) return info;
  if (k === 0) {
    values.fill(0);
    return info;
  }
  const A = be.f32(a), B = be.f32(b);
  const batch = Math.max(batchA, batchB);
  if (batchB === 1 && !transA) {
    // [batch·m, k]·[k, n] as one product: larger GEMMs run closer to peak.
    be.addon.gemm(A, B, values, 1, batch * m, n, k, false, transB, 0, 0);
  } else {
    be.addon.gemm(A, B, values, batch, m, n, k, transA, transB, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * n);
  }
  return info;
}

/** Broadcast descriptor: output dims with per-operand strides, size-1 dims dropped and runs merged. */
function broadcastDesc(outShape: number[], aShape: readonly number[], bShape: readonly number[]): Int32Array | undefined {
  const r = outShape.length;
  const strides = (shape: readonly number[]) => {
    const s = new Array<number>(r).fill(0);
    let acc = 1;
    for (let i = r - 1; i >= 0; i--) {
      const d = shape[i - (r - shape.length)] ?? 1;
      s[i] = d === 1 ? 0 : acc;
      acc *= d;
    }
    return s;
  };
  const sa = strides(aShape), sb = strides(bShape);
  const dims: number[] = [], da: number[] = [], db: number[] = [];
  for (let i = 0; i < r; i++) {
    const d = outShape[i]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    // Merge into the previous dim when both operands continue contiguously (or both broadcast).
    if (last >= 0 && da[last] === sa[i]! * d && db[last] === sb[i]! * d) {
      dims[last]! *= d;
      da[last] = sa[i]!;
      db[last] = sb[i]!;
    } else {
      dims.push(d);
      da.push(sa[i]!);
      db.push(sb[i]!);
    }
  }
  if (dims.length === 0) dims.push(1), da.push(0), db.push(0);
  if (dims.length > 8) return undefined;
  return Int32Array.from([...dims, ...da, ...db]);
}

function binaryKernel(name: keyof typeof BINARY): tf.KernelConfig {
  return kernel(name, ({ inputs }, be) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (!isF32(a, b)) return undefined;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const desc = broadcastDesc(outShape, a.shape, b.shape);
    if (!desc) return undefined;
    const { info, values } = be.output(outShape);
    if (values.length > 0) be.addon.binary(BINARY[name], be.f32(a), be.f32(b), values, desc);
    return info;
  });
}

function unaryKernel(name: keyof typeof UNARY): tf.KernelConfig {
  return kernel(name, ({ inputs }, be) => {
    const { x } = inputs as { x: tf.TensorInfo };
    if (!isF32(x)) return undefined;
    const { info, values } = be.output(x.shape.slice());
    be.addon.unary(UNARY[name], be.f32(x), values);
    return info;
  });
}

/** out = x transposed by perm, natively; size-1 axes drop and axes that stay adjacent merge first. */
function transposeInto(be: NativeBackend, x: Float32Array, shape: readonly number[], perm: readonly number[], out: Float32Array): void {
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const renumber = new Map(kept.map((axis, i) => [axis, i]));
  const dims = kept.map((i) => shape[i]!);
  let pr = perm.filter((p) => shape[p] !== 1).map((p) => renumber.get(p)!);
  for (let j = 0; j + 1 < pr.length; ) {
    if (pr[j + 1] === pr[j]! + 1) {
      const a = pr[j]!;
      dims.splice(a, 2, dims[a]! * dims[a + 1]!);
      pr.splice(j + 1, 1);
      pr = pr.map((p) => (p > a ? p - 1 : p));
    } else {
      j++;
    }
  }
  if (pr.length <= 1) out.set(x.subarray(0, out.length));
  else be.addon.transpose(x, out, Int32Array.from([...dims, ...pr]));
}

const transposeConfig = kernel('Transpose', ({ inputs, attrs }, be) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const perm = attrs!.perm as number[];
  if (!isF32(x) || perm.length > 8) return undefined;
  const { info, values } = be.output(perm.map((p) => x.shape[p]!));
  if (values.length > 0) transposeInto(be, be.f32(x), x.shape, perm, values);
  return info;
});

function reduceKernel(name: keyof typeof REDUCE): tf.KernelConfig {
  return kernel(name, ({ inputs, attrs }, be) => {
    const { x } = inputs as { x: tf.TensorInfo };
    if (!isF32(x)) return undefined;
    const shape = x.shape;
    // Max names its axes reductionIndices; Sum, Mean and Min name them axis.
    const axes = tf.util.parseAxisParam((attrs!.axis ?? attrs!.reductionIndices) as number | number[], shape).sort((p, q) => p - q);
    const outShape = attrs!.keepDims
      ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : shape.filter((_, i) => !axes.includes(i));
    const r = size(axes.map((i) => shape[i]!));
    if ((name === 'Max' || name === 'Min') && r === 0) return undefined; // cpu decides what that means
    const { info, values } = be.output(outShape);
    if (values.length === 0) return info;
    // The reduced axes, ignoring size-1 ones, usually form one block: reduce in place as [outer, r, inner].
    const big = axes.filter((i) => shape[i]! !== 1);
    const first = big[0] ?? 0, last = big[big.length - 1] ?? 0;
    let src = be.f32(x);
    let outer = size(shape), inner = 1;
    let scratch: Float32Array | undefined;
    if (big.length > 0 && last - first === big.length - 1) {
      outer = size(shape.slice(0, first));
      inner = size(shape.slice(last + 1));
    } else if (big.length > 0) {
      // Move the reduced axes last, then reduce rows.
      const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
      scratch = be.alloc(size(shape));
      transposeInto(be, src, shape, [...kept, ...axes], scratch);
      src = scratch;
      outer = size(kept.map((i) => shape[i]!));
    }
    be.addon.reduce(REDUCE[name], src, values, outer, r, inner);
    if (scratch) be.recycle(scratch);
    return info;
  });
}

/** Copies the block `blk` at `from` in src to `to` in dst (rank 0 is treated as [1]). */
function copyBlock(be: NativeBackend, src: Float32Array, srcShape: readonly number[], from: number[], dst: Float32Array,
  dstShape: readonly number[], to: number[], blk: number[]): void {
  if (size(blk) === 0) return;
  const one = (a: readonly number[], fill: number) => (a.length === 0 ? [fill] : a);
  be.addon.copyBlock(src, dst, Int32Array.from([...one(srcShape, 1), ...one(from, 0), ...one(dstShape, 1), ...one(to, 0), ...one(blk, 1)]));
}

// Slicing and joining along an axis are block copies; the cpu kernels copy element by element in JS.
const sliceConfig = kernel('Slice', ({ inputs, attrs }, be) => {
  const { x } = inputs as { x: tf.TensorInfo };
  if (!isF32(x) || x.shape.length > 8) return undefined;
  const [begin, sz] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs!.begin as number[], attrs!.size as number[]);
  const { info, values } = be.output(sz);
  copyBlock(be, be.f32(x), x.shape, begin, values, sz, sz.map(() => 0), sz);
  return info;
});

const splitConfig = kernel('SplitV', ({ inputs, attrs }, be) => {
  const { x } = inputs as { x: tf.TensorInfo };
  if (!isF32(x) || x.shape.length > 8) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs!.numOrSizeSplits as number[], axis);
  const begin = x.shape.map(() => 0);
  return sizes.map((s) => {
    const shape = x.shape.slice();
    shape[axis] = s;
    const { info, values } = be.output(shape);
    copyBlock(be, be.f32(x), x.shape, begin.slice(), values, shape, shape.map(() => 0), shape);
    begin[axis]! += s;
    return info;
  });
});

const unpackConfig = kernel('Unpack', ({ inputs, attrs }, be) => {
  const { value } = inputs as { value: tf.TensorInfo };
  if (!isF32(value) || value.shape.length > 8) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, value.shape)[0]!;
  const blk = value.shape.slice();
  blk[axis] = 1;
  const outShape = value.shape.filter((_, i) => i !== axis);
  return Array.from({ length: value.shape[axis]! }, (_, i) => {
    const { info, values } = be.output(outShape);
    const from = value.shape.map((_, d) => (d === axis ? i : 0));
    copyBlock(be, be.f32(value), value.shape, from, values, blk, blk.map(() => 0), blk);
    return info;
  });
});

/** Concatenation along `axis` of tensors whose shapes agree elsewhere (Pack inserts the axis first). */
function join(be: NativeBackend, parts: tf.TensorInfo[], shapes: number[][], axis: number): tf.TensorInfo {
  const outShape = shapes[0]!.slice();
  outShape[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
  const { info, values } = be.output(outShape);
  let offset = 0;
  parts.forEach((t, i) => {
    const shape = shapes[i]!;
    copyBlock(be, be.f32(t), shape, shape.map(() => 0), values, outShape, outShape.map((_, d) => (d === axis ? offset : 0)), shape);
    offset += shape[axis]!;
  });
  return info;
}

const concatConfig = kernel('Concat', ({ inputs, attrs }, be) => {
  const parts = Object.values(inputs) as tf.TensorInfo[];
  if (parts.length === 0 || !isF32(...parts) || parts[0]!.shape.length > 8 || parts[0]!.shape.length === 0) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, parts[0]!.shape)[0]!;
  const shapes = parts.map((t) => t.shape.slice());
  if (shapes.some((s) => s.length !== shapes[0]!.length || s.some((d, i) => i !== axis && d !== shapes[0]![i]))) return undefined;
  return join(be, parts, shapes, axis);
});

const packConfig = kernel('Pack', ({ inputs, attrs }, be) => {
  const parts = Object.values(inputs) as tf.TensorInfo[];
  if (parts.length === 0 || !isF32(...parts) || parts[0]!.shape.length >= 8) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, [...parts[0]!.shape, 1])[0]!;
  if (parts.some((t) => t.shape.join() !== parts[0]!.shape.join())) return undefined;
  const shapes = parts.map((t) => [...t.shape.slice(0, axis), 1, ...t.shape.slice(axis)]);
  return join(be, parts, shapes, axis);
});

// Backprop makes many zero tensors (gradients of unused outputs): fill recycled buffers instead.
function filled(name: 'ZerosLike' | 'OnesLike', value: number): tf.KernelConfig {
  return kernel(name, ({ inputs }, be) => {
    const { x } = inputs as { x: tf.TensorInfo };
    if (!isF32(x)) return undefined;
    const { info, values } = be.output(x.shape.slice());
    values.fill(value);
    return info;
  });
}

const softmaxConfig = kernel('Softmax', ({ inputs, attrs }, be) => {
  const { logits } = inputs as { logits: tf.TensorInfo };
  const dim = attrs!.dim as number;
  if (!isF32(logits) || (dim !== -1 && dim !== logits.shape.length - 1)) return undefined;
  const c = logits.shape[logits.shape.length - 1]!;
  const { info, values } = be.output(logits.shape.slice());
  if (values.length > 0) be.addon.softmax(be.f32(logits), values, c);
  return info;
});

function intIds(be: NativeBackend, t: tf.TensorInfo, bound: number): Int32Array | undefined {
  if (t.dtype !== 'int32') return undefined;
  const ids = be.data.get(t.dataId).values as Int32Array;
  for (let i = 0; i < ids.length; i++) if (ids[i]! < 0 || ids[i]! >= bound) return undefined; // cpu throws
  return ids;
}

const gatherConfig = kernel('GatherV2', ({ inputs, attrs }, be) => {
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const axis = tf.util.parseAxisParam(attrs!.axis as number, x.shape)[0];
  if (!isF32(x) || axis !== 0 || (attrs!.batchDims as number) !== 0 || x.shape.length < 1) return undefined;
  const ids = intIds(be, indices, x.shape[0]!);
  if (!ids) return undefined;
  const width = size(x.shape.slice(1));
  const { info, values } = be.output([...indices.shape, ...x.shape.slice(1)]);
  if (values.length > 0) be.addon.gatherRows(be.f32(x), ids, values, width);
  return info;
});

const scatterConfig = kernel('ScatterNd', ({ inputs, attrs }, be) => {
  const { indices, updates } = inputs as { indices: tf.TensorInfo; updates: tf.TensorInfo };
  const shape = attrs!.shape as number[];
  // Row scatter-add only: indices [n, 1] into a table of shape [rows, ...].
  if (!isF32(updates) || indices.shape.length !== 2 || indices.shape[1] !== 1 || shape.length < 1) return undefined;
  const width = size(shape.slice(1));
  if (size(updates.shape) !== indices.shape[0]! * width) return undefined;
  const ids = intIds(be, indices, shape[0]!);
  if (!ids) return undefined;
  const { info, values } = be.output(shape);
  values.fill(0);
  be.addon.scatterAddRows(be.f32(updates), ids, values, width);
  return info;
});

/** Complex keeps references to its inputs' arrays: those must not be recycled afterwards. */
const complexConfig = kernel('Complex', ({ inputs }, be) => {
  for (const t of Object.values(inputs)) if (t && t.dtype === 'float32') be.disown(be.f32(t));
  return undefined;
});

// Fused kernels, called through tf.customGrad in ops.ts.
export const FUSED = {
  linear: 'DlipLinear',
  gelu: 'DlipGelu',
  geluGrad: 'DlipGeluGrad',
  layerNorm: 'DlipLayerNorm',
  layerNormGrad: 'DlipLayerNormGrad',
  softmaxGrad: 'DlipSoftmaxGrad',
  adamw: 'DlipAdamW',
  attnProbs: 'DlipAttnProbs',
  attnProbsGrad: 'DlipAttnProbsGrad',
  attnContext: 'DlipAttnContext',
  attnContextGrad: 'DlipAttnContextGrad',
  softXent: 'DlipSoftXent',
  softXentGrad: 'DlipSoftXentGrad',
} as const;

/** [B, H, Tq, Tk, D] of an attention from q [B, Tq, H·D], k [B, Tk, H·D] and the head count. */
function attnShape(q: tf.TensorInfo, k: tf.TensorInfo, heads: number): Int32Array {
  const [b, tq, w] = q.shape as [number, number, number];
  return Int32Array.from([b, heads, tq, k.shape[1]!, w / heads]);
}

/** Element strides of a mask broadcast to [B, H, Tq, Tk] (0 along broadcast axes). */
function maskStrides(mask: tf.TensorInfo): Int32Array {
  const shape = [...new Array<number>(4 - mask.shape.length).fill(1), ...mask.shape];
  const strides = new Int32Array(4);
  let acc = 1;
  for (let i = 3; i >= 0; i--) {
    strides[i] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i]!;
  }
  return strides;
}

/** The soft target's arguments of softXent / softXentGrad: dense teacher logits, or ids, probs and tail. */
function softTargetArgs(be: NativeBackend, inputs: tf.NamedTensorInfoMap, classes: number): [Float32Array | null, Int32Array?, Float32Array?, Float32Array?] {
  const { teacher, ids, probs, tail } = inputs as Record<string, tf.TensorInfo | undefined>;
  if (teacher) return [be.f32(teacher)];
  const checked = intIds(be, ids!, classes);
  if (!checked) throw new Error(`soft target: ids must be int32 in 0..${classes - 1}`);
  return [null, checked, be.f32(probs!), be.f32(tail!)];
}

const fused: tf.KernelConfig[] = [
  own(FUSED.linear, ({ inputs }, be) => {
    const { x, w, b } = inputs as Record<string, tf.TensorInfo>;
    const [m, k] = x!.shape as [number, number];
    const n = w!.shape[0]!;
    const { info, values } = be.output([m, n]);
    if (m * n > 0) be.addon.linear(be.f32(x!), be.f32(w!), be.f32(b!), values, m, n, k);
    return info;
  }),
  own(FUSED.gelu, ({ inputs }, be) => {
    const x = inputs.x!;
    const { info, values } = be.output(x.shape.slice());
    be.addon.gelu(be.f32(x), values);
    return info;
  }),
  own(FUSED.geluGrad, ({ inputs }, be) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { info, values } = be.output(x.shape.slice());
    be.addon.geluGrad(be.f32(x), be.f32(dy), values);
    return info;
  }),
  own(FUSED.layerNorm, ({ inputs, attrs }, be) => {
    const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
    const rows = size(x!.shape.slice(0, -1));
    const y = be.output(x!.shape.slice()), mean = be.output([rows]), rstd = be.output([rows]);
    be.addon.layerNorm(be.f32(x!), be.f32(gamma!), be.f32(beta!), attrs!.eps as number, y.values, mean.values, rstd.values);
    return [y.info, mean.info, rstd.info];
  }),
  own(FUSED.layerNormGrad, ({ inputs }, be) => {
    const { dy, x, gamma, mean, rstd } = inputs as Record<string, tf.TensorInfo>;
    const dx = be.output(x!.shape.slice()), dg = be.output(gamma!.shape.slice()), db = be.output(gamma!.shape.slice());
    be.addon.layerNormGrad(be.f32(dy!), be.f32(x!), be.f32(gamma!), be.f32(mean!), be.f32(rstd!), dx.values, dg.values, db.values);
    return [dx.info, dg.info, db.info];
  }),
  own(FUSED.softmaxGrad, ({ inputs }, be) => {
    const { y, dy } = inputs as { y: tf.TensorInfo; dy: tf.TensorInfo };
    const { info, values } = be.output(y.shape.slice());
    if (values.length > 0) be.addon.softmaxGrad(be.f32(y), be.f32(dy), values, y.shape[y.shape.length - 1]!);
    return info;
  }),
  own(FUSED.attnProbs, ({ inputs, attrs }, be) => {
    const { q, k, mask } = inputs as Record<string, tf.TensorInfo | undefined>;
    const shape = attnShape(q!, k!, attrs!.heads as number);
    const { info, values } = be.output([shape[0]!, shape[1]!, shape[2]!, shape[3]!]);
    be.addon.attnProbs(be.f32(q!), be.f32(k!), mask ? be.f32(mask) : null, mask ? maskStrides(mask) : new Int32Array(4),
      attrs!.scale as number, shape, values);
    return info;
  }),
  own(FUSED.attnProbsGrad, ({ inputs, attrs }, be) => {
    const { p, dp, q, k } = inputs as Record<string, tf.TensorInfo>;
    const dq = be.output(q!.shape.slice()), dk = be.output(k!.shape.slice());
    be.addon.attnProbsGrad(be.f32(p!), be.f32(dp!), be.f32(q!), be.f32(k!), attrs!.scale as number,
      attnShape(q!, k!, attrs!.heads as number), dq.values, dk.values);
    return [dq.info, dk.info];
  }),
  own(FUSED.attnContext, ({ inputs }, be) => {
    const { p, v } = inputs as Record<string, tf.TensorInfo>;
    const [b, h, tq] = p!.shape as [number, number, number, number];
    const w = v!.shape[2]!;
    const { info, values } = be.output([b, tq, w]);
    be.addon.attnContext(be.f32(p!), be.f32(v!), Int32Array.from([b, h, tq, v!.shape[1]!, w / h]), values);
    return info;
  }),
  own(FUSED.attnContextGrad, ({ inputs }, be) => {
    const { p, v, dout } = inputs as Record<string, tf.TensorInfo>;
    const [b, h, tq, tk] = p!.shape as [number, number, number, number];
    const dp = be.output(p!.shape.slice()), dv = be.output(v!.shape.slice());
    be.addon.attnContextGrad(be.f32(p!), be.f32(v!), be.f32(dout!), Int32Array.from([b, h, tq, tk, v!.shape[2]! / h]),
      dp.values, dv.values);
    return [dp.info, dv.info];
  }),
  own(FUSED.softXent, ({ inputs, attrs }, be) => {
    const z = inputs.z!;
    const [rows, classes] = z.shape as [number, number];
    const cross = be.output([rows]), negEntropy = be.output([rows]);
    negEntropy.values.fill(0);
    be.addon.softXent(be.f32(z), classes, attrs!.temperature as number, cross.values, negEntropy.values, ...softTargetArgs(be, inputs, classes));
    return [cross.info, negEntropy.info];
  }),
  own(FUSED.softXentGrad, ({ inputs, attrs }, be) => {
    const { z, scale } = inputs as Record<string, tf.TensorInfo>;
    const classes = z!.shape[1]!;
    const { info, values } = be.output(z!.shape.slice());
    be.addon.softXentGrad(be.f32(z!), classes, attrs!.temperature as number, be.f32(scale!), values, ...softTargetArgs(be, inputs, classes));
    return info;
  }),
  // Writes the new parameter to a fresh tensor; updates the optimizer-owned moments m and v in place.
  own(FUSED.adamw, ({ inputs, attrs }, be) => {
    const { p, g, m, v } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as Record<string, number>;
    const { info, values } = be.output(p!.shape.slice());
    be.addon.adamw(be.f32(p!), be.f32(g!), be.f32(m!), be.f32(v!), values, a.lr!, a.beta1!, a.beta2!, a.eps!,
      a.weightDecay!, a.bias1!, a.bias2!);
    return info;
  }),
];

/** Every kernel the native backend implements itself. */
export function nativeKernels(): tf.KernelConfig[] {
  return [
    kernel('BatchMatMul', batchMatMul),
    ...(Object.keys(BINARY) as (keyof typeof BINARY)[]).map(binaryKernel),
    ...(Object.keys(UNARY) as (keyof typeof UNARY)[]).map(unaryKernel),
    ...(Object.keys(REDUCE) as (keyof typeof REDUCE)[]).map(reduceKernel),
    transposeConfig,
    sliceConfig,
    splitConfig,
    unpackConfig,
    concatConfig,
    packConfig,
    softmaxConfig,
    filled('ZerosLike', 0),
    filled('OnesLike', 1),
    gatherConfig,
    scatterConfig,
    complexConfig,
    ...fused,
  ];
}
