import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { featureKd } from '../../src/distill/feature-kd.js';
import { assertClose, assertNoLeak, scalarOf } from './helpers.js';

before(async () => {
  await initBackend('cpu');
});

describe('featureKd', () => {
  // Row 0: s = [3, 0], t = [1, 1]: cos = 3/(3·√2) = 0.707107, 1 − cos = 0.292893.
  // Row 1: s = [0, 2], t = [0, −1]: cos = −1, 1 − cos = 2.
  const student = () => tf.tensor2d([[3, 0], [0, 2]]);
  const teacher = () => tf.tensor2d([[1, 1], [0, -1]]);

  it('cosine: the mean of 1 − cos, worked by hand', () => {
    tf.tidy(() => {
      // (0.292893 + 2) / 2 = 1.146447; scaling a row does not change it.
      assertClose(scalarOf(featureKd(student(), teacher(), 'cosine')), 1.146447, 1e-6);
      assertClose(scalarOf(featureKd(tf.mul(student(), 10), teacher(), 'cosine')), 1.146447, 1e-6, 'scaled');
    });
  });

  it('mse: the mean squared difference over all entries, worked by hand', () => {
    tf.tidy(() => {
      // Differences [2, −1] and [0, 3]: (4 + 1 + 0 + 9) / 4 = 3.5.
      assertClose(scalarOf(featureKd(student(), teacher(), 'mse')), 3.5, 1e-6);
    });
  });

  it('cosine of a zero feature is 1 − 0, with a finite gradient', () => {
    tf.tidy(() => {
      // Row 0 is zero (cos 0 → 1), row 1 as above (2): mean 1.5.
      const [value, g] = [featureKd(tf.tensor2d([[0, 0], [0, 2]]), teacher(), 'cosine'), tf.grads((s: tf.Tensor) => featureKd(s, teacher(), 'cosine'))([tf.tensor2d([[0, 0], [0, 2]])])[0]!];
      assertClose(scalarOf(value), 1.5, 1e-6);
      assert.ok(Array.from(g.dataSync()).every(Number.isFinite), `gradient ${g.dataSync()}`);
    });
  });

  it('names both shapes when they differ', () => {
    tf.tidy(() => {
      assert.throws(() => featureKd(tf.zeros([2, 4]), tf.zeros([2, 8]), 'mse'), /student features \[2,4\] and teacher features \[2,8\] differ/);
      assert.throws(() => featureKd(tf.zeros([2, 3, 4]), tf.zeros([2, 3, 4]), 'cosine'), /features \[B, P\] must have rank 2, got \[2,3,4\]/);
    });
  });

  it('leaks no tensors', () => {
    const s = student();
    const t = teacher();
    assertNoLeak(() => featureKd(s, t, 'cosine'));
    assertNoLeak(() => featureKd(s, t, 'mse'));
    tf.dispose([s, t]);
  });
});
