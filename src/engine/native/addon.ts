// Loads the N-API addon built from native/ (scripts/build-native.mjs). Absent or broken, it says why,
// so the backend selection can fall back to wasm with a useful message.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../paths.js';

/** The addon's functions; all work in place on the typed arrays they are given. */
export interface NativeAddon {
  setThreads(n: number): void;
  info(): { blas: string; threads: number; blasThreading: 'openmp' | 'pthreads' | 'serial' };
  gemm(a: Float32Array, b: Float32Array, c: Float32Array, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, strideA: number, strideB: number): void;
  /** y[m, n] = x[m, k]·w[n, k]ᵀ + b[n]. */
  linear(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, m: number, n: number, k: number): void;
  /** desc = [shape..., stridesA..., stridesB...] of the (collapsed) output index space. */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, desc: Int32Array): void;
  unary(op: number, x: Float32Array, y: Float32Array): void;
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, r: number, inner: number): void;
  /** desc = [shape..., perm...]. */
  transpose(x: Float32Array, out: Float32Array, desc: Int32Array): void;
  /** desc = [srcShape..., srcBegin..., dstShape..., dstBegin..., size...]. */
  copyBlock(src: Float32Array, dst: Float32Array, desc: Int32Array): void;
  softmax(x: Float32Array, y: Float32Array, c: number): void;
  softmaxGrad(y: Float32Array, dy: Float32Array, dx: Float32Array, c: number): void;
  layerNorm(x: Float32Array, g: Float32Array, b: Float32Array, eps: number, y: Float32Array, mean: Float32Array,
    rstd: Float32Array): void;
  layerNormGrad(dy: Float32Array, x: Float32Array, g: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dg: Float32Array, db: Float32Array): void;
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** shape = [B, H, Tq, Tk, D]; q, k, v, o are [B, T, H·D]; p is [B, H, Tq, Tk]. */
  attnProbs(q: Float32Array, k: Float32Array, mask: Float32Array | null, maskStrides: Int32Array, scale: number,
    shape: Int32Array, p: Float32Array): void;
  attnProbsGrad(p: Float32Array, dp: Float32Array, q: Float32Array, k: Float32Array, scale: number, shape: Int32Array,
    dq: Float32Array, dk: Float32Array): void;
  attnContext(p: Float32Array, v: Float32Array, shape: Int32Array, o: Float32Array): void;
  attnContextGrad(p: Float32Array, v: Float32Array, dout: Float32Array, shape: Int32Array, dp: Float32Array,
    dv: Float32Array): void;
  /**
   * Soft-target cross-entropy of rows of `v` logits z at `temperature`: cross[r] = Σ p·log softmax(z/T),
   * and Σ p·log p into negEntropy for a dense target (teacher logits; else ids/probs/tail, sparse).
   */
  softXent(z: Float32Array, v: number, temperature: number, cross: Float32Array, negEntropy: Float32Array,
    teacher: Float32Array | null, ids?: Int32Array, probs?: Float32Array, tail?: Float32Array): void;
  /** dz[r, j] = scale[r]·(softmax(z/T)_j − p_j), p as in softXent. */
  softXentGrad(z: Float32Array, v: number, temperature: number, scale: Float32Array, dz: Float32Array,
    teacher: Float32Array | null, ids?: Int32Array, probs?: Float32Array, tail?: Float32Array): void;
  /** Per row of `v` logits: lse[r] = log Σ exp, ids[r·k ..] its k largest (value desc, index asc; −1 past a short row). */
  rowTopK(x: Float32Array, v: number, k: number, lse: Float64Array, ids: Int32Array): void;
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, pOut: Float32Array, lr: number,
    beta1: number, beta2: number, eps: number, weightDecay: number, bias1: number, bias2: number): void;
  gatherRows(table: Float32Array, ids: Int32Array, out: Float32Array, width: number): void;
  scatterAddRows(upd: Float32Array, ids: Int32Array, out: Float32Array, width: number): void;
}

export const BINARY = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6, Pow: 7 } as const;
export const UNARY = {
  Exp: 0, Log: 1, Neg: 2, Sqrt: 3, Rsqrt: 4, Square: 5, Erf: 6, Tanh: 7, Sigmoid: 8, Relu: 9, Abs: 10, Reciprocal: 11,
} as const;
export const REDUCE = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

export const BUILD_FIX = 'apt-get install libopenblas-dev, then `npm run build:native`';

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };


function threadsFromEnv(): number {
  const raw = process.env.DLIP_THREADS;
  if (raw === undefined || raw === '') return 2;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`DLIP_THREADS must be a positive integer, got "${raw}"`);
  return n;
}

let cached: AddonLoad | undefined;

/** Loads the addon once and sets its thread count (DLIP_THREADS, default 2). */
export function loadAddon(): AddonLoad {
  if (cached) return cached;
  const path = join(packageRoot, 'native', 'build', 'Release', 'dlip_native.node');
  if (!existsSync(path)) {
    let reason = 'the native addon is not built';
    const status = join(packageRoot, 'native', 'build', 'status.json');
    if (existsSync(status)) {
      const s = JSON.parse(readFileSync(status, 'utf8')) as { ok: boolean; reason?: string };
      if (!s.ok && s.reason) reason += ` (${s.reason})`;
    }
    cached = { ok: false, reason };
    return cached;
  }
  try {
    // OpenMP threads that spin while idle fight the JS thread and other processes for 2 cores (each
    // parallel region then cost ~8 ms here); sleeping ones cost ~0.1 ms to wake. libgomp reads this
    // when the addon loads it.
    process.env.OMP_WAIT_POLICY ??= 'passive';
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    addon.setThreads(threadsFromEnv());
    cached = { ok: true, addon, path };
  } catch (err) {
    cached = { ok: false, reason: `the native addon failed to load: ${(err as Error).message}` };
  }
  return cached;
}
