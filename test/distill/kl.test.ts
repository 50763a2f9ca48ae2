import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { softKl } from '../../src/distill/kl.js';
import { assertClose, assertNoLeak, scalarOf } from './helpers.js';

before(async () => {
  await initBackend('cpu');
});

// Row A: teacher [ln 3, 0] → p = [3/4, 1/4]; student [0, 0] → q = [1/2, 1/2].
//   KL(p ‖ q) = 0.75·ln 1.5 + 0.25·ln 0.5 = 0.304099 − 0.173287 = 0.130812.
// Row B: teacher [0, 0], student [ln 3, 0]: KL = 0.5·ln(0.5/0.75) + 0.5·ln(0.5/0.25) = 0.143841.
const KL_A = 0.130812;
const KL_B = 0.143841;

describe('softKl', () => {
  it('is KL(teacher ‖ student), worked by hand, times T² at temperature T', () => {
    tf.tidy(() => {
      const student = tf.tensor2d([[0, 0]]);
      assertClose(scalarOf(softKl(student, tf.tensor2d([[Math.log(3), 0]]), 1)), KL_A, 1e-6);
      // At T = 2, teacher logits [2 ln 3, 0] give the same p after dividing by T: KL_A·T² = 0.523248.
      assertClose(scalarOf(softKl(student, tf.tensor2d([[2 * Math.log(3), 0]]), 2)), 4 * KL_A, 1e-5);
    });
  });

  it('averages over every leading axis and leaves masked rows out', () => {
    tf.tidy(() => {
      // Rows of shape [2, 1]: row A then row B.
      const student = tf.tensor3d([[[0, 0]], [[Math.log(3), 0]]]);
      const teacher = tf.tensor3d([[[Math.log(3), 0]], [[0, 0]]]);
      assertClose(scalarOf(softKl(student, teacher, 1)), (KL_A + KL_B) / 2, 1e-6, 'both rows');
      assertClose(scalarOf(softKl(student, teacher, 1, tf.tensor2d([[1], [0]]))), KL_A, 1e-6, 'row B masked');
      assertClose(scalarOf(softKl(student, teacher, 1, tf.tensor2d([[0], [1]]))), KL_B, 1e-6, 'row A masked');
    });
  });

  it('has gradient T·(q − p) / counted rows with respect to the student logits', () => {
    tf.tidy(() => {
      // Row A at T = 2 (teacher [2 ln 3, 0]) and a masked row: 2·([1/2, 1/2] − [3/4, 1/4]) / 1 = [−0.5, 0.5].
      const teacher = tf.tensor2d([[2 * Math.log(3), 0], [5, -5]]);
      const mask = tf.tensor1d([1, 0]);
      const [g] = tf.grads((s: tf.Tensor) => softKl(s, teacher, 2, mask))([tf.tensor2d([[0, 0], [1, 2]])]);
      Array.from(g!.dataSync()).forEach((v, i) => assertClose(v, [-0.5, 0.5, 0, 0][i]!, 1e-6, `gradient ${i}`));
    });
  });

  it('counts a class both sides mask with −∞ as 0, value and gradient finite', () => {
    tf.tidy(() => {
      const teacher = tf.tensor2d([[Math.log(3), 0, -Infinity]]);
      const [value, g] = [
        softKl(tf.tensor2d([[0, 0, -Infinity]]), teacher, 1),
        tf.grads((s: tf.Tensor) => softKl(s, teacher, 1))([tf.tensor2d([[0, 0, -Infinity]])])[0]!,
      ];
      assertClose(scalarOf(value), KL_A, 1e-6);
      // Gradient q − p = [1/2 − 3/4, 1/2 − 1/4, 0].
      Array.from(g.dataSync()).forEach((v, i) => assertClose(v, [-0.25, 0.25, 0][i]!, 1e-6, `gradient ${i}`));
    });
  });

  it('names the shapes that do not fit', () => {
    tf.tidy(() => {
      assert.throws(() => softKl(tf.zeros([2, 3]), tf.zeros([2, 4]), 1), /student logits \[2,3\] and teacher logits \[2,4\] differ/);
      assert.throws(() => softKl(tf.zeros([2, 3]), tf.zeros([2, 3]), 1, tf.ones([3])), /row mask \[3\] must have the logits' leading shape \[2\]/);
      assert.throws(() => softKl(tf.zeros([2, 3]), tf.zeros([2, 3]), 0), /temperature must be a positive number, got 0/);
    });
  });

  it('leaks no tensors', () => {
    const s = tf.randomNormal([3, 4], 0, 1, 'float32', 1);
    const t = tf.randomNormal([3, 4], 0, 1, 'float32', 2);
    const mask = tf.tensor1d([1, 0, 1]);
    assertNoLeak(() => softKl(s, t, 2, mask));
    tf.dispose([s, t, mask]);
  });
});
