import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { linear } from '../../src/engine/ops.js';
import { softKl } from '../../src/distill/kl.js';
import { projectedLmKd } from '../../src/distill/lm-kd.js';
import type { ProjectedStates, TopKTeacher } from '../../src/distill/lm-kd.js';
import { IGNORE_INDEX } from '../../src/objectives/lm.js';
import { assertClose, assertNoLeak, maxDiff, scalarOf } from './helpers.js';

before(async () => {
  await initBackend('cpu');
});

const V = 7;
const I = IGNORE_INDEX;
// Sequence 0 has an unscored prompt token at 1, sequence 1 two pads at the end.
const LABELS = [
  [1, I, 6, 2, 3],
  [1, 5, 2, I, I],
];
// Position t is scored when label t+1 exists and counts (captionLoss's shift), written out by hand:
// sequence 0: t = 0 predicts the prompt (no), t = 1, 2, 3 yes, t = 4 has no successor;
// sequence 1: t = 0, 1 yes, t = 2, 3 predict pads, t = 4 has no successor. 5 rows in all.
const SCORED = [
  [0, 1, 1, 1, 0],
  [1, 1, 0, 0, 0],
];

function fixture() {
  const labels = tf.tensor2d(LABELS, [2, 5], 'int32');
  const student = {
    states: tf.randomNormal([2, 5, 3], 0, 1, 'float32', 1),
    weight: tf.randomNormal([V, 3], 0, 1, 'float32', 2),
    bias: tf.randomNormal([V], 0, 1, 'float32', 3),
  };
  const teacher = {
    states: tf.randomNormal([2, 5, 4], 0, 1, 'float32', 4),
    weight: tf.randomNormal([V, 4], 0, 1, 'float32', 5),
    bias: tf.randomNormal([V], 0, 1, 'float32', 6),
  };
  return { labels, student, teacher };
}

/** The unchunked reference: both models' full logits into softKl with the hand-written row mask. */
function reference(student: ProjectedStates, teacher: ProjectedStates, T: number): tf.Scalar {
  const logits = (x: ProjectedStates) => linear(x.states, x.weight, x.bias);
  return softKl(logits(student), logits(teacher), T, tf.tensor2d(SCORED));
}

/** The teacher's top k logits and log-sum-exp, as a cache would store them. */
function topK(teacher: ProjectedStates, k: number): TopKTeacher {
  const logits = linear(teacher.states, teacher.weight, teacher.bias);
  const { values, indices } = tf.topk(logits, k);
  return { indices, logits: values, logSumExp: tf.logSumExp(logits, -1) };
}

const withStudent = (student: ProjectedStates, fn: (s: ProjectedStates) => tf.Scalar) => (states: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) =>
  fn({ ...student, states, weight, bias });

describe('projectedLmKd', () => {
  for (const chunk of [2, 256]) {
    it(`equals the unchunked softKl on full logits, value and gradients (chunk ${chunk})`, () => {
      tf.tidy(() => {
        const { labels, student, teacher } = fixture();
        const ref = withStudent(student, (s) => reference(s, teacher, 2));
        const fused = withStudent(student, (s) => projectedLmKd(s, teacher, labels, 2, chunk));
        const xs = [student.states, student.weight, student.bias];
        const expected = scalarOf(ref(student.states, student.weight, student.bias));
        assert.ok(expected > 0.1, 'a reference far from 0');
        assertClose(scalarOf(fused(student.states, student.weight, student.bias)), expected, 1e-5);
        const gr = tf.grads(ref)(xs);
        const gf = tf.grads(fused)(xs);
        gr.forEach((g, i) => assert.ok(maxDiff(g, gf[i]!) < 1e-5, `gradient ${i}: ${maxDiff(g, gf[i]!)}`));
      });
    });
  }

  it('with sequence weights, is Σ weight · (KL summed over the sequence) / divisor, value and gradients', () => {
    tf.tidy(() => {
      const { labels, student, teacher } = fixture();
      const weights = [0.7, 0.3];
      const divisor = 2;
      const logits = (x: ProjectedStates) => linear(x.states, x.weight, x.bias);
      // softKl is a mean over its mask: times the sequence's scored count gives the sequence's sum.
      const ref = withStudent(student, (s) =>
        tf.div(
          tf.addN(
            weights.map((w, b) => {
              const row = (x: tf.Tensor) => tf.slice(x, [b, 0, 0], [1, -1, -1]);
              const count = SCORED[b]!.reduce((n, x) => n + x, 0);
              return tf.mul(softKl(row(logits(s)), row(logits(teacher)), 2, tf.tensor2d([SCORED[b]!])), w * count);
            }),
          ),
          divisor,
        ) as tf.Scalar,
      );
      const weighted = withStudent(student, (s) => projectedLmKd(s, teacher, labels, 2, 2, { weights, divisor }));
      const xs = [student.states, student.weight, student.bias];
      const expected = scalarOf(ref(student.states, student.weight, student.bias));
      assertClose(scalarOf(weighted(student.states, student.weight, student.bias)), expected, 1e-5);
      // Not the plain mean, which counts sequence 0's three positions and sequence 1's two alike.
      assert.ok(Math.abs(expected - scalarOf(projectedLmKd(student, teacher, labels, 2, 2))) > 1e-3);
      const gr = tf.grads(ref)(xs);
      const gw = tf.grads(weighted)(xs);
      gr.forEach((g, i) => assert.ok(maxDiff(g, gw[i]!) < 1e-5, `gradient ${i}: ${maxDiff(g, gw[i]!)}`));
      assert.throws(() => projectedLmKd(student, teacher, labels, 2, 2, { weights: [1], divisor }), /1 sequence weights for labels of 2 rows/);
    });
  });

  it('has the gradient of finite differences on entries of the states and the weight', () => {
    tf.tidy(() => {
      const { labels, student, teacher } = fixture();
      const f = withStudent(student, (s) => projectedLmKd(s, teacher, labels, 1.5, 2));
      const [gStates, gWeight] = tf.grads(f)([student.states, student.weight, student.bias]);
      const h = 1e-2;
      const probe = (which: 0 | 1, flatIndex: number, analytic: tf.Tensor) => {
        const base = which === 0 ? student.states : student.weight;
        const bump = (sign: number) => {
          const data = base.dataSync().slice();
          data[flatIndex]! += sign * h;
          const moved = tf.tensor(data, base.shape);
          return scalarOf(which === 0 ? f(moved, student.weight, student.bias) : f(student.states, moved, student.bias));
        };
        const numeric = (bump(1) - bump(-1)) / (2 * h);
        assertClose(analytic.dataSync()[flatIndex]!, numeric, 2e-3, `d/d ${which === 0 ? 'states' : 'weight'}[${flatIndex}]`);
      };
      probe(0, 4, gStates!); // sequence 0, position 1 (scored)
      probe(0, 16, gStates!); // sequence 1, position 0
      probe(1, 5, gWeight!);
      probe(1, 19, gWeight!);
    });
  });

  it('ignores unscored positions: their states change nothing and get zero gradient', () => {
    tf.tidy(() => {
      const { labels, student, teacher } = fixture();
      const unscored = tf.tensor3d(SCORED.map((row) => row.map((s) => [1 - s])));
      const noise = (shape: number[], seed: number) => tf.mul(tf.randomNormal(shape, 0, 5, 'float32', seed), unscored);
      const moved = { ...student, states: tf.add(student.states, noise([2, 5, 3], 7)) };
      const movedTeacher = { ...teacher, states: tf.add(teacher.states, noise([2, 5, 4], 8)) };
      assertClose(scalarOf(projectedLmKd(moved, movedTeacher, labels, 2, 2)), scalarOf(projectedLmKd(student, teacher, labels, 2, 2)), 1e-6);
      const [g] = tf.grads((s: tf.Tensor) => projectedLmKd({ ...student, states: s }, teacher, labels, 2, 2))([student.states]);
      assert.equal(scalarOf(tf.sum(tf.abs(tf.mul(g!, unscored)))), 0);
      assert.ok(scalarOf(tf.sum(tf.abs(g!))) > 0);
    });
  });

  for (const T of [1, 2]) {
    it(`with top-k teacher logits, k = V, equals the full teacher (T = ${T})`, () => {
      tf.tidy(() => {
        const { labels, student, teacher } = fixture();
        const cached = topK(teacher, V);
        const full = withStudent(student, (s) => projectedLmKd(s, teacher, labels, T, 2));
        const fromCache = withStudent(student, (s) => projectedLmKd(s, cached, labels, T, 2));
        const xs = [student.states, student.weight, student.bias];
        assertClose(scalarOf(fromCache(student.states, student.weight, student.bias)), scalarOf(full(student.states, student.weight, student.bias)), 1e-5);
        const gFull = tf.grads(full)(xs);
        const gCache = tf.grads(fromCache)(xs);
        gFull.forEach((g, i) => assert.ok(maxDiff(g, gCache[i]!) < 1e-5, `gradient ${i}: ${maxDiff(g, gCache[i]!)}`));
      });
    });
  }

  it('with k < V, equals softKl against a teacher whose other V − k logits share the left-over mass', () => {
    tf.tidy(() => {
      const { labels, student, teacher } = fixture();
      const k = 3;
      // The documented approximation built densely, row by row in plain JS: the top k logits stay;
      // each other token gets logSumExp + ln((1 − Σ top-k p) / (V − k)).
      const rows = (linear(teacher.states, teacher.weight, teacher.bias).arraySync() as number[][][]).map((seq) =>
        seq.map((logits) => {
          const lse = Math.log(logits.reduce((a, z) => a + Math.exp(z), 0));
          const top = [...logits].sort((a, b) => b - a).slice(0, k);
          const rest = 1 - top.reduce((a, z) => a + Math.exp(z - lse), 0);
          return logits.map((z) => (z >= top[k - 1]! ? z : lse + Math.log(rest / (V - k))));
        }),
      );
      const dense = tf.tensor3d(rows);
      const ref = withStudent(student, (s) => softKl(linear(s.states, s.weight, s.bias), dense, 2, tf.tensor2d(SCORED)));
      const fused = withStudent(student, (s) => projectedLmKd(s, topK(teacher, k), labels, 2, 2));
      const xs = [student.states, student.weight, student.bias];
      assertClose(scalarOf(fused(student.states, student.weight, student.bias)), scalarOf(ref(student.states, student.weight, student.bias)), 1e-5);
      const gr = tf.grads(ref)(xs);
      const gf = tf.grads(fused)(xs);
      gr.forEach((g, i) => assert.ok(maxDiff(g, gf[i]!) < 1e-5, `gradient ${i}: ${maxDiff(g, gf[i]!)}`));
    });
  });

  it('spreads the mass outside the top k evenly, worked by hand', () => {
    tf.tidy(() => {
      // V = 4, a uniform student (zero weight and bias: q = 1/4 each). The teacher's top 2 at the one
      // scored position are token 2 with p = 0.5 and token 0 with p = 0.3 (logits ln 0.5, ln 0.3,
      // log-sum-exp 0); the other 0.2 goes to tokens 1 and 3, 0.1 each. At T = 1:
      //   KL = 0.5·ln(0.5/0.25) + 0.3·ln(0.3/0.25) + 2·0.1·ln(0.1/0.25)
      //      = 0.346574 + 0.054697 − 0.183258 = 0.218012.
      // At T = 2, p_T ∝ √p: √0.5 = 0.707107, √0.3 = 0.547723, √0.1 = 0.316228 (twice), sum 1.887285,
      // so p_T = [0.374669, 0.290217, 0.167557, 0.167557] and
      //   KL·T² = 4·Σ p_T·ln(4·p_T) = 4·(0.374669·0.404582 + 0.290217·0.149168 + 2·0.167557·(−0.400137))
      //         = 4·(0.151584 + 0.043291 − 0.134092) = 4·0.060783 = 0.24313 (0.243135 unrounded).
      const student = { states: tf.ones([1, 2, 3]), weight: tf.zeros([4, 3]), bias: tf.zeros([4]) };
      const cached = {
        indices: tf.tensor3d([[[2, 0], [1, 3]]], [1, 2, 2], 'int32'),
        logits: tf.tensor3d([[[Math.log(0.5), Math.log(0.3)], [9, 9]]]),
        logSumExp: tf.tensor2d([[0, 99]]),
      };
      const labels = tf.tensor2d([[1, 2]], [1, 2], 'int32');
      assertClose(scalarOf(projectedLmKd(student, cached, labels, 1)), 0.218012, 1e-5, 'T = 1');
      assertClose(scalarOf(projectedLmKd(student, cached, labels, 2)), 0.243135, 1e-5, 'T = 2');
      // When the top 2 hold all the mass (p = 0.6, 0.4) the tail is empty, not NaN:
      //   KL = 0.6·ln(0.6/0.25) + 0.4·ln(0.4/0.25) = 0.6·0.875469 + 0.4·0.470004 = 0.713283.
      const full = { ...cached, logits: tf.tensor3d([[[Math.log(0.6), Math.log(0.4)], [9, 9]]]) };
      assertClose(scalarOf(projectedLmKd(student, full, labels, 1)), 0.713283, 1e-5, 'no tail');
    });
  });

  it('is 0 with zero gradients when nothing is scored', () => {
    tf.tidy(() => {
      const { student, teacher } = fixture();
      const labels = tf.fill([2, 5], IGNORE_INDEX, 'int32');
      const f = withStudent(student, (s) => projectedLmKd(s, teacher, labels, 2));
      assert.equal(scalarOf(f(student.states, student.weight, student.bias)), 0);
      for (const g of tf.grads(f)([student.states, student.weight, student.bias])) assert.equal(scalarOf(tf.sum(tf.abs(g))), 0);
    });
  });

  it('names the shapes that do not fit', () => {
    tf.tidy(() => {
      const { labels, student, teacher } = fixture();
      assert.throws(() => projectedLmKd({ ...student, weight: tf.zeros([V, 4]) }, teacher, labels, 1), /student projection weight \[7,4\] must be \[V, W\] = \[7,3\] for states \[2,5,3\]/);
      assert.throws(() => projectedLmKd(student, { ...teacher, weight: tf.zeros([V + 1, 4]) }, labels, 1), /teacher projection weight \[8,4\] must be \[V, W\] = \[7,4\]/);
      assert.throws(() => projectedLmKd(student, teacher, tf.zeros([2, 4], 'int32'), 1), /student states \[2,5,3\] do not match the labels \[2,4\]/);
      const cached = topK(teacher, 3);
      assert.throws(() => projectedLmKd(student, { ...cached, logSumExp: tf.zeros([2]) }, labels, 1), /teacher logSumExp \[2\] must be \[B, L\] = \[2,5\]/);
      assert.throws(() => projectedLmKd(student, { ...cached, logits: tf.zeros([2, 5, 2]) }, labels, 1), /top-k logits \[2,5,2\] must match its indices \[2,5,3\]/);
    });
  });

  it('leaks no tensors, forward or backward', () => {
    const { labels, student, teacher } = fixture();
    const cached = topK(teacher, 3);
    assertNoLeak(() => projectedLmKd(student, teacher, labels, 2, 2));
    assertNoLeak(() => projectedLmKd(student, cached, labels, 2, 2));
    const xs = [student.states, student.weight, student.bias];
    const before = tf.memory().numTensors;
    const grads = tf.grads(withStudent(student, (s) => projectedLmKd(s, cached, labels, 2, 2)))(xs);
    assert.equal(tf.memory().numTensors, before + 3, 'only the three gradients stay');
    tf.dispose([...grads, labels, ...Object.values(student), ...Object.values(teacher), ...Object.values(cached)]);
  });
});
