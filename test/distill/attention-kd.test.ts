import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { attentionKd } from '../../src/distill/attention-kd.js';
import { assertClose, assertNoLeak, scalarOf } from './helpers.js';

before(async () => {
  await initBackend('cpu');
});

// One layer, B = 1, H = 1, Tq = 2, Tk = 3; key 2 is masked out (probability 0 in both).
// Row 0: teacher [1/2, 1/2, 0], student [1/4, 3/4, 0]: KL = 0.5·ln 2 + 0.5·ln(2/3) = 0.346574 − 0.202733 = 0.143841.
// Row 1: teacher [1, 0, 0], student [1/2, 1/2, 0]: KL = ln 2 = 0.693147.
const ROW0 = 0.143841;
const ROW1 = 0.693147;
const teacherMap = () => tf.tensor4d([[[[0.5, 0.5, 0], [1, 0, 0]]]]);
const studentMap = () => tf.tensor4d([[[[0.25, 0.75, 0], [0.5, 0.5, 0]]]]);

describe('attentionKd', () => {
  it('is KL(teacher ‖ student) per query row, averaged, worked by hand', () => {
    tf.tidy(() => {
      assertClose(scalarOf(attentionKd([studentMap()], [teacherMap()], [[1, 1]])), (ROW0 + ROW1) / 2, 1e-6);
    });
  });

  it('counts only unmasked query rows', () => {
    tf.tidy(() => {
      assertClose(scalarOf(attentionKd([studentMap()], [teacherMap()], [[1, 1]], tf.tensor2d([[1, 0]]))), ROW0, 1e-6);
      assertClose(scalarOf(attentionKd([studentMap()], [teacherMap()], [[1, 1]], tf.tensor2d([[0, 1]]))), ROW1, 1e-6);
    });
  });

  it('averages over mapped layers, reading layer ℓ from attentions[ℓ − 1]', () => {
    tf.tidy(() => {
      // Student layer 2 ↔ teacher layer 1 is the pair above; student layer 1 equals teacher layer 2 (KL 0).
      const same = tf.tensor4d([[[[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]]]);
      const value = attentionKd([same, studentMap()], [teacherMap(), same], [[2, 1], [1, 2]]);
      assertClose(scalarOf(value), (ROW0 + ROW1) / 4, 1e-6);
    });
  });

  it('averages heads first when the head counts differ', () => {
    tf.tidy(() => {
      // Student heads [1/4, 3/4, 0] and [3/4, 1/4, 0] average to [1/2, 1/2, 0]: row 0 matches the
      // teacher (KL 0); row 1 heads [1/2, 1/2, 0] and [1, 0, 0] average to [3/4, 1/4, 0]: KL = ln(4/3) = 0.287682.
      // Compared head by head instead, row 0 alone would cost 0.143841 per head.
      const student = tf.tensor4d([[[[0.25, 0.75, 0], [0.5, 0.5, 0]], [[0.75, 0.25, 0], [1, 0, 0]]]]);
      assertClose(scalarOf(attentionKd([student], [teacherMap()], [[1, 1]])), 0.287682 / 2, 1e-6);
    });
  });

  it('keeps value and gradient finite on masked keys and on a student that underflows', () => {
    tf.tidy(() => {
      // Student softmax with an additive −1e4 mask on key 2, as the models build it; on row 1 its
      // logits put ~e^−200 on key 1, where the teacher has 0 — and on row 0 key 1 gets underflowed 0
      // where the teacher has 1/2: a large but finite KL.
      const logits = tf.tensor4d([[[[0, -200, -1e4], [200, 0, -1e4]]]]);
      const f = (l: tf.Tensor) => attentionKd([tf.softmax(l)], [teacherMap()], [[1, 1]]);
      const [value, g] = [f(logits), tf.grads(f)([logits])[0]!];
      assert.ok(Number.isFinite(scalarOf(value)) && scalarOf(value) > 10, `value ${scalarOf(value)}`);
      assert.ok(Array.from(g.dataSync()).every(Number.isFinite), `gradient ${g.dataSync()}`);
    });
  });

  it('names what does not fit', () => {
    tf.tidy(() => {
      const wide = tf.ones([1, 1, 2, 4]);
      assert.throws(() => attentionKd([wide], [teacherMap()], [[1, 1]]), /pair \[1, 1\]: student map \[1,1,2,4\] and teacher map \[1,1,2,3\] differ in \[B, ·, Tq, Tk\]/);
      assert.throws(() => attentionKd([studentMap()], [teacherMap()], [[2, 1]]), /the student has attention maps of layers 1..1; the layer map asks for layer 2/);
      assert.throws(() => attentionKd([studentMap()], [teacherMap()], [[1, 1]], tf.ones([1, 3])), /query mask \[1,3\] must be \[B, Tq\] = \[1,2\]/);
    });
  });

  it('leaks no tensors', () => {
    const [s, t, mask] = [studentMap(), teacherMap(), tf.tensor2d([[1, 0]])];
    assertNoLeak(() => attentionKd([s], [t], [[1, 1]], mask));
    tf.dispose([s, t, mask]);
  });
});
