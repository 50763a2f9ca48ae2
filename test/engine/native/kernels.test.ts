// Every native kernel against the cpu backend on random shapes, forward and backward, including
// broadcasting edge cases and size-1 axes. Skipped (with the reason) where the addon is not built.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../../src/engine/backend.js';
import { loadAddon } from '../../../src/engine/native/addon.js';
import { AdamW } from '../../../src/train/optimizer.js';
import { attention, gatherRows, gelu, layerNorm, linear, matmul, softmax } from '../../../src/engine/ops.js';
import { softCross, softCrossGrad } from '../../../src/engine/soft-target.js';
import type { SoftTarget } from '../../../src/engine/soft-target.js';
import { projectedCaptionLoss, IGNORE_INDEX } from '../../../src/objectives/lm.js';
import { projectedLmKd } from '../../../src/distill/lm-kd.js';

const load = loadAddon();
const skip = load.ok ? false : `native addon unavailable: ${load.reason}`;

/** Deterministic inputs (mulberry32) so both backends see the same numbers. */
function rand(shape: number[], seed: number, lo = -2, hi = 2): { shape: number[]; data: Float32Array } {
  let s = seed >>> 0;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  });
  return { shape, data };
}

type In = { shape: number[]; data: Float32Array };
type Fn = (...xs: tf.Tensor[]) => tf.Tensor;

/** Value of f and gradients of sum(f · w) for every input, as plain arrays, on one backend. */
function evaluate(backend: string, f: Fn, inputs: In[], grads = true): { shape: number[]; values: Float32Array[] } {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const y = f(...xs);
    const w = tf.tensor(rand(y.shape, 99).data, y.shape);
    const values = [y.dataSync() as Float32Array];
    if (grads) for (const g of tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), w)))(xs)) values.push(g.dataSync() as Float32Array);
    return { shape: y.shape, values: values.map((v) => Float32Array.from(v)) };
  });
}

/** Native against cpu: relative-to-scale tolerance (float32 sums differ in order). */
function check(what: string, f: Fn, inputs: In[], opts: { tol?: number; grads?: boolean; ref?: Fn } = {}): void {
  const tol = opts.tol ?? 1e-5;
  const ours = evaluate('native', f, inputs, opts.grads ?? true);
  const ref = evaluate('cpu', opts.ref ?? f, inputs, opts.grads ?? true);
  tf.setBackend('native');
  assert.deepEqual(ours.shape, ref.shape, `${what}: shape`);
  ours.values.forEach((o, k) => {
    const r = ref.values[k]!;
    assert.equal(o.length, r.length, `${what}[${k}]: length`);
    let scale = 1;
    for (const v of r) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < o.length; i++) {
      const a = o[i]!, b = r[i]!;
      if (Number.isNaN(b)) assert.ok(Number.isNaN(a), `${what}[${k}] #${i}: ${a} vs NaN`);
      else assert.ok(Math.abs(a - b) <= tol * scale, `${what}[${k}] #${i}: native ${a} vs cpu ${b}`);
    }
  });
}

describe('native backend kernels against cpu', { skip }, () => {
  before(async () => {
    await initBackend('native');
  });

  it('BatchMatMul: ranks 2-4, every transpose, batch broadcasting, odd and unit sizes', () => {
    const cases: [number[], number[]][] = [
      [[3, 4], [4, 5]],
      [[1, 7], [7, 1]],
      [[5, 1], [1, 6]],
      [[2, 3, 4], [2, 4, 5]],
      [[1, 3, 4], [6, 4, 5]],
      [[6, 3, 4], [1, 4, 5]],
      [[2, 3, 3, 4], [2, 3, 4, 5]],
      [[2, 3, 33, 17], [17, 9]],
      [[65, 31], [2, 31, 13]],
    ];
    let seed = 1;
    for (const [sa, sb] of cases) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const swap = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!] : s);
          const inputs = [rand(swap(sa, ta), seed++), rand(swap(sb, tb), seed++)];
          // tfjs's own BatchMatMul gradient does not reduce over broadcast batch axes: forward only there.
          const sameBatch = sa.length === sb.length && sa.slice(0, -2).join() === sb.slice(0, -2).join();
          check(`matMul ${sa}x${sb} ta=${ta} tb=${tb}`, (a, b) => tf.matMul(a!, b!, ta, tb), inputs, { grads: sameBatch });
          if (sameBatch) check(`ops.matmul ${sa}x${sb} ta=${ta} tb=${tb}`, (a, b) => matmul(a!, b!, ta, tb), inputs);
        }
      }
    }
  });

  it('linear with the bias folded into the GEMM, against matmul + add, ranks 2 and 3', () => {
    let seed = 50;
    for (const [xs, out] of [[[7, 5], 3], [[2, 9, 16], 33], [[1, 1], 1]] as [number[], number][]) {
      const inputs = [rand(xs, seed++), rand([out, xs[xs.length - 1]!], seed++), rand([out], seed++)];
      check(`linear [${xs}] -> ${out}`, (x, w, b) => linear(x!, w!, b!), inputs, {
        ref: (x, w, b) => tf.add(tf.matMul(x!.reshape([-1, w!.shape[1]!]), w!, false, true), b!).reshape([...x!.shape.slice(0, -1), out]),
      });
    }
  });

  it('binary ops with broadcasting: same shape, scalars, size-1 axes, rank mismatch, empty', () => {
    const pairs: [number[], number[]][] = [
      [[7], [7]],
      [[3, 5], []],
      [[], [4, 2]],
      [[2, 3, 4], [4]],
      [[3, 1, 5], [1, 4, 1]],
      [[5, 1], [1, 6]],
      [[2, 1, 3, 1, 2], [1, 4, 1, 5, 1]],
      [[1, 1, 1], [1]],
      [[8, 40, 65], [8, 1, 65]],
      [[0, 3], [3]],
    ];
    const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, boolean][] = [
      ['add', tf.add, false],
      ['sub', tf.sub, false],
      ['mul', tf.mul, false],
      ['div', tf.div, true],
      ['maximum', tf.maximum, false],
      ['minimum', tf.minimum, false],
      ['squaredDifference', tf.squaredDifference, false],
      ['pow', tf.pow, true],
    ];
    let seed = 100;
    for (const [name, op, positive] of ops) {
      for (const [sa, sb] of pairs) {
        const inputs = [rand(sa, seed++, positive ? 0.5 : -2, 2), rand(sb, seed++, positive ? 0.5 : -2, 2)];
        // tfjs's Maximum/Minimum/SquaredDifference gradients do not reduce over broadcast axes.
        const grads = sa.join() === sb.join() || !['maximum', 'minimum', 'squaredDifference'].includes(name);
        check(`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, (a, b) => op(a!, b!), inputs, { grads });
      }
    }
  });

  it('unary ops forward and backward', () => {
    const ops: [string, (x: tf.Tensor) => tf.Tensor, number, number][] = [
      ['exp', tf.exp, -30, 30],
      ['log', tf.log, 0.01, 5],
      ['neg', tf.neg, -2, 2],
      ['sqrt', tf.sqrt, 0.01, 5],
      ['rsqrt', tf.rsqrt, 0.1, 5],
      ['square', tf.square, -2, 2],
      ['erf', tf.erf, -4, 4],
      ['tanh', tf.tanh, -4, 4],
      ['sigmoid', tf.sigmoid, -10, 10],
      ['relu', tf.relu, -2, 2],
      ['abs', tf.abs, -2, 2],
      ['reciprocal', tf.reciprocal, 0.5, 2],
    ];
    let seed = 300;
    for (const [name, op, lo, hi] of ops) {
      for (const shape of [[1], [3, 7], [33000]]) {
        check(`${name} [${shape}]`, (x) => op(x!), [rand(shape, seed++, lo, hi)], { tol: 2e-6 });
      }
    }
  });

  it('reductions over every axis combination, keepDims, size-1 and empty axes', () => {
    const shapes = [[5], [4, 6], [3, 1, 5], [2, 3, 4, 5], [300, 200]];
    const ops: [string, (x: tf.Tensor, axis: number[], keep: boolean) => tf.Tensor][] = [
      ['sum', tf.sum],
      ['mean', tf.mean],
      ['max', tf.max],
      ['min', tf.min],
    ];
    let seed = 500;
    for (const shape of shapes) {
      const r = shape.length;
      const subsets = Array.from({ length: 2 ** r - 1 }, (_, m) => shape.map((_, i) => i).filter((i) => ((m + 1) >> i) & 1));
      subsets.forEach((axes, k) => {
        for (const [name, op] of ops) {
          const keep = (k + name.length) % 2 === 0;
          check(`${name} [${shape}] axes ${axes} keep=${keep}`, (x) => op(x!, axes, keep), [rand(shape, seed++)], { tol: 1e-5 });
        }
      });
    }
    check('sum of all (axis undefined)', (x) => tf.sum(x!), [rand([3, 4, 5], 7)]);
  });

  it('transpose: random permutations with size-1 axes', () => {
    const shapes = [[3, 4], [2, 3, 4], [2, 1, 3, 4], [8, 65, 4, 16], [2, 3, 1, 4, 5]];
    let seed = 700;
    for (const shape of shapes) {
      const r = shape.length;
      for (let k = 0; k < 6; k++) {
        const perm = shape.map((_, i) => i);
        const g = rand([r], seed++, 0, 1).data;
        perm.sort((a, b) => g[a]! - g[b]!);
        check(`transpose [${shape}] perm ${perm}`, (x) => tf.transpose(x!, perm), [rand(shape, seed++)], { tol: 0 });
      }
    }
  });

  it('slice, split, concat, stack and unstack on every axis, forward and backward', () => {
    let seed = 800;
    for (const shape of [[7], [4, 6], [3, 5, 4], [2, 3, 4, 5]]) {
      shape.forEach((d, axis) => {
        const begin = shape.map((_, i) => (i === axis ? 1 : 0));
        const sz = shape.map((n, i) => (i === axis ? Math.max(1, n - 2) : -1));
        check(`slice [${shape}] axis ${axis}`, (x) => tf.slice(x!, begin, sz), [rand(shape, seed++)], { tol: 0 });
        const splits = [1, d - 1];
        check(`split [${shape}] axis ${axis}`, (x) => tf.split(x!, splits, axis)[1]!, [rand(shape, seed++)], { tol: 0 });
        const other = shape.map((n, i) => (i === axis ? 2 : n));
        check(`concat [${shape}]+[${other}] axis ${axis}`, (a, b) => tf.concat([a!, b!], axis), [rand(shape, seed++), rand(other, seed++)], { tol: 0 });
        check(`unstack [${shape}] axis ${axis}`, (x) => tf.unstack(x!, axis)[d - 1]!, [rand(shape, seed++)], { tol: 0 });
      });
      for (let axis = 0; axis <= shape.length; axis++) {
        check(`stack [${shape}] axis ${axis}`, (a, b) => tf.stack([a!, b!], axis), [rand(shape, seed++), rand(shape, seed++)], { tol: 0 });
      }
    }
    check('zerosLike and onesLike', (x) => tf.add(tf.zerosLike(x!), tf.onesLike(x!)), [rand([3, 4], 4)], { tol: 0 });
    check('slice of a scalar-like [1]', (x) => tf.slice(x!, [0], [1]), [rand([1], 3)], { tol: 0 });
  });

  it('softmax, GELU and LayerNorm: fused forward and backward against the composite ops on cpu', () => {
    let seed = 900;
    for (const shape of [[1, 2], [3, 7], [2, 4, 65, 65], [9, 256]]) {
      check(`tf.softmax [${shape}]`, (x) => tf.softmax(x!), [rand(shape, seed++, -8, 8)], { tol: 1e-6 });
      check(`ops.softmax [${shape}]`, (x) => softmax(x!), [rand(shape, seed++, -8, 8)], { tol: 1e-6, ref: (x) => tf.softmax(x!) });
      check(`gelu [${shape}]`, (x) => gelu(x!), [rand(shape, seed++, -6, 6)], { tol: 2e-6 });
      const c = shape[shape.length - 1]!;
      check(
        `layerNorm [${shape}]`,
        (x, g, b) => layerNorm(x!, g!, b!, 1e-12),
        [rand(shape, seed++, -3, 5), rand([c], seed++), rand([c], seed++)],
        { tol: 2e-5 },
      );
    }
    // A masked row (large negative entries) stays finite.
    check('softmax with -1e9 mask', (x) => softmax(tf.add(x!, tf.tensor([0, -1e9, 0, -1e9]))), [rand([3, 4], 5)], {
      tol: 1e-6,
      ref: (x) => tf.softmax(tf.add(x!, tf.tensor([0, -1e9, 0, -1e9]))),
    });
  });

  it('attention: fused scores/softmax/context with masks, cross-attention, gradients through probs', () => {
    let seed = 1100;
    const [b, h, d] = [2, 4, 3];
    for (const [tq, tk] of [[5, 5], [5, 7], [1, 9]] as [number, number][]) {
      const masks: (number[] | undefined)[] = [undefined, [b, 1, 1, tk], [b, 1, tq, tk], [tq, tk], [b, h, tq, tk]];
      for (const maskShape of masks) {
        const inputs = [rand([b, tq, h * d], seed++), rand([b, tk, h * d], seed++), rand([b, tk, h * d], seed++)];
        const mask = maskShape && rand(maskShape, seed++, -3, 0).data.map((v) => (v < -2.5 ? -1e4 : v));
        const run = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
          const r = attention(q, k, v, h, mask && tf.tensor(mask, maskShape));
          return tf.concat([r.context.flatten(), r.probs.flatten()]);
        };
        check(`attention ${tq}x${tk} mask ${maskShape ?? 'none'}`, (q, k, v) => run(q!, k!, v!), inputs, { tol: 1e-5 });
      }
    }
  });

  it('products and attention heads large enough to run on every thread give the same results', () => {
    // Above 2^21 multiply-adds the kernels split heads (and OpenBLAS its products) over threads; the
    // cases above are all below it and run on one.
    let seed = 1200;
    check('matMul batch 8 of 64x64x64', (a, b) => matmul(a!, b!, false, true), [rand([8, 64, 64], seed++), rand([8, 64, 64], seed++)], { tol: 1e-5 });
    check('linear 600x64 -> 64', (x, w, b) => linear(x!, w!, b!), [rand([600, 64], seed++), rand([64, 64], seed++), rand([64], seed++)], { tol: 1e-5 });
    const [b, h, t, d] = [4, 4, 64, 16];
    const inputs = [rand([b, t, h * d], seed++), rand([b, t, h * d], seed++), rand([b, t, h * d], seed++)];
    const run = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
      const r = attention(q, k, v, h);
      return tf.concat([r.context.flatten(), r.probs.flatten()]);
    };
    check('attention 4x4 heads of 64x64', (q, k, v) => run(q!, k!, v!), inputs, { tol: 1e-5 });
  });

  it('gather and the embedding scatter-add gradient, repeated ids included', () => {
    const ids = [3, 0, 3, 9, 1, 3];
    check('gatherRows', (t) => gatherRows(t, tf.tensor(ids, [2, 3], 'int32')), [rand([10, 5], 1)], { tol: 1e-6 });
    check('gather 3-d table', (t) => tf.gather(t!, tf.tensor([2, 0, 2], [3], 'int32')), [rand([4, 2, 3], 2)], { tol: 0 });
  });

  it('soft-target cross-entropy: dense and sparse targets, tails of 0, T ≠ 1, value and gradient rows', () => {
    const [rows, classes, k] = [5, 37, 3];
    const ids = tf.tensor2d([[0, 5, 36], [2, 1, 7], [9, 3, 4], [36, 35, 0], [11, 12, 13]], [rows, k], 'int32');
    const probs = rand([rows, k], 7, 0, 0.3);
    const tail = Float32Array.from([0.01, 0, 0.002, 0.02, 0]);
    for (const T of [1, 2.5]) {
      const targets: [string, (t: tf.Tensor[]) => SoftTarget, In[]][] = [
        ['dense', ([t]) => ({ logits: t! }), [rand([rows, classes], 11, -4, 4)]],
        ['sparse', ([p, tl]) => ({ ids, probs: p!, tail: tl! }), [probs, { shape: [rows], data: tail }]],
      ];
      for (const [kind, target, extra] of targets) {
        const z = rand([rows, classes], 3, -4, 4);
        const scale = rand([rows], 5, -1, 1);
        const out = (backend: string) => {
          tf.setBackend(backend);
          return tf.tidy(() => {
            const [logits, s, ...t] = [z, scale, ...extra].map((i) => tf.tensor(i.data, i.shape));
            const { cross, negEntropy } = softCross(logits!, target(t), T);
            return [cross, negEntropy, softCrossGrad(logits!, target(t), T, s!)].map((x) => Float32Array.from(x.dataSync()));
          });
        };
        const [ours, ref] = [out('native'), out('cpu')];
        tf.setBackend('native');
        ours.forEach((o, i) => o.forEach((v, j) => assert.ok(Math.abs(v - ref[i]![j]!) < 2e-6 * Math.max(1, Math.abs(ref[i]![j]!)), `${kind} T=${T} output ${i} #${j}: native ${v} vs cpu ${ref[i]![j]}`)));
      }
    }
    ids.dispose();
  });

  it('the LM loss and LM KD on the fused soft-target kernel equal the composed ops, value and gradients', () => {
    const labels = [[1, 4, 7, 9, 2], [1, 5, 2, IGNORE_INDEX, IGNORE_INDEX], [1, 10, 3, 3, 2]];
    const lab = () => tf.tensor2d(labels, [3, 5], 'int32');
    const student = [rand([3, 5, 4], 21), rand([11, 4], 22), rand([11], 23)];
    check('projectedCaptionLoss', (s, w, b) => projectedCaptionLoss(s!, w!, b!, lab(), 0.1, 4), student);
    // The teacher is a constant of the loss (no gradient): made inside f, on the backend under test.
    const teacher = [rand([3, 5, 6], 24), rand([11, 6], 25), rand([11], 26)];
    const projected = () => {
      const [states, weight, bias] = teacher.map((i) => tf.tensor(i.data, i.shape));
      return { states: states!, weight: weight!, bias: bias! };
    };
    const top3 = () => {
      const t = projected();
      const logits = linear(t.states, t.weight, t.bias);
      const { values, indices } = tf.topk(logits, 3);
      return { indices, logits: values, logSumExp: tf.logSumExp(logits, -1) };
    };
    for (const T of [1, 2]) {
      check(`projectedLmKd dense T=${T}`, (s, w, b) => projectedLmKd({ states: s!, weight: w!, bias: b! }, projected(), lab(), T, 4), student);
      check(`projectedLmKd top-3 T=${T}`, (s, w, b) => projectedLmKd({ states: s!, weight: w!, bias: b! }, top3(), lab(), T, 4), student);
    }
  });

  it('AdamW: the fused update matches the composite one over several steps', () => {
    const run = (backend: string) => {
      tf.setBackend(backend);
      const p = tf.variable(tf.tensor(rand([37, 5], 11).data, [37, 5]), true, `w_${backend}`);
      const opt = AdamW.forVariables([p], { weightDecay: 0.1 });
      for (let step = 0; step < 4; step++) {
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => tf.sum(tf.square(tf.sub(p, 0.3))), [p]);
          opt.apply(grads, 0.05);
        });
      }
      const out = Float32Array.from(p.dataSync());
      opt.dispose();
      p.dispose();
      return out;
    };
    const ours = run('native'), ref = run('cpu');
    tf.setBackend('native');
    ours.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-5, `param #${i}: ${v} vs ${ref[i]}`));
  });

  it('recycled buffers: read results stay valid, and a training step leaks no tensors', () => {
    tf.setBackend('native');
    const a = tf.fill([1000], 3);
    const b = tf.add(a, 1);
    const read = b.dataSync();
    b.dispose();
    tf.tidy(() => tf.add(a, 100).dataSync()); // likely lands in b's recycled buffer
    assert.equal(read[0], 4);
    a.dispose();

    const w = tf.variable(tf.tensor(rand([16, 8], 3).data, [16, 8]), true, 'leak_w');
    const opt = AdamW.forVariables([w]);
    const step = () =>
      tf.tidy(() => {
        const x = tf.tensor(rand([4, 8], 4).data, [4, 8]);
        const { grads } = tf.variableGrads(() => tf.mean(gelu(layerNorm(matmul(x, w, false, true), tf.ones([16]), tf.zeros([16]), 1e-5))), [w]);
        opt.apply(grads, 1e-3);
      });
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    assert.equal(tf.memory().numTensors, before);
    opt.dispose();
    w.dispose();
  });
});
