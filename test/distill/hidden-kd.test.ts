import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { LayerAdaptors } from '../../src/distill/adaptor.js';
import { hiddenKd } from '../../src/distill/hidden-kd.js';
import type { LayerPair } from '../../src/distill/layer-map.js';
import { assertClose, assertNoLeak, scalarOf } from './helpers.js';

before(async () => {
  await initBackend('cpu');
});

// hiddenStates arrays: index 0 is the embedding output, index ℓ layer ℓ. [B = 1, T = 2, W = 2].
const studentStates = () => [tf.fill([1, 2, 2], 7), tf.zeros([1, 2, 2]), tf.tensor3d([[[1, 2], [3, 4]]])];
const teacherStates = () => [tf.fill([1, 2, 2], -7), tf.ones([1, 2, 2]), tf.fill([1, 2, 2], 3), tf.ones([1, 2, 2]), tf.tensor3d([[[1, 0], [4, 4]]])];
const PAIRS: LayerPair[] = [[1, 2], [2, 4]];

describe('hiddenKd', () => {
  it('averages the per-layer MSE over mapped layers, worked by hand', () => {
    tf.tidy(() => {
      const identity = new LayerAdaptors(PAIRS, 2, 2);
      // [1, 2]: 0 vs 3 everywhere → 9. [2, 4]: differences [0, 2], [−1, 0] → (0 + 4 + 1 + 0) / 4 = 1.25.
      assertClose(scalarOf(hiddenKd(studentStates(), teacherStates(), [[2, 4]], identity)), 1.25, 1e-6);
      assertClose(scalarOf(hiddenKd(studentStates(), teacherStates(), PAIRS, identity)), (9 + 1.25) / 2, 1e-6);
    });
  });

  it('counts only unmasked tokens', () => {
    tf.tidy(() => {
      const identity = new LayerAdaptors(PAIRS, 2, 2);
      // Token 0 of [2, 4]: (0 + 4) / 2 = 2; token 1: (1 + 0) / 2 = 0.5.
      assertClose(scalarOf(hiddenKd(studentStates(), teacherStates(), [[2, 4]], identity, tf.tensor2d([[1, 0]]))), 2, 1e-6);
      assertClose(scalarOf(hiddenKd(studentStates(), teacherStates(), [[2, 4]], identity, tf.tensor2d([[0, 1]]))), 0.5, 1e-6);
    });
  });

  it('adapts the student width and trains the adaptor, worked by hand', () => {
    const adaptors = new LayerAdaptors([[1, 1]], 2, 3);
    const [weight, bias] = [...adaptors.namedParameters().values()];
    weight!.assign(Float32Array.from([1, 0, 0, 1, 1, 1])); // W = [[1, 0], [0, 1], [1, 1]]
    bias!.assign(Float32Array.from([0, 0, 1]));
    tf.tidy(() => {
      // x = [1, 2] → W·x + b = [1, 2, 4]; teacher [1, 2, 3]: residual r = [0, 0, 1], MSE = 1/3.
      const student = [tf.zeros([1, 1, 2]), tf.tensor3d([[[1, 2]]])];
      const teacher = [tf.zeros([1, 1, 3]), tf.tensor3d([[[1, 2, 3]]])];
      const { value, grads } = tf.variableGrads(() => hiddenKd(student, teacher, [[1, 1]], adaptors));
      assertClose(scalarOf(value), 1 / 3, 1e-6);
      // dW = (2/3)·r·xᵀ = [[0, 0], [0, 0], [2/3, 4/3]]; db = (2/3)·r.
      const expectedW = [0, 0, 0, 0, 2 / 3, 4 / 3];
      Array.from(grads[weight!.value.name]!.dataSync()).forEach((v, i) => assertClose(v, expectedW[i]!, 1e-6, `dW ${i}`));
      Array.from(grads[bias!.value.name]!.dataSync()).forEach((v, i) => assertClose(v, [0, 0, 2 / 3][i]!, 1e-6, `db ${i}`));
    });
    adaptors.dispose();
  });

  it('names what does not fit', () => {
    tf.tidy(() => {
      const identity = new LayerAdaptors(PAIRS, 2, 2);
      const shortTeacher = teacherStates().map((x) => x.slice([0, 0, 0], [1, 1, 2]));
      assert.throws(() => hiddenKd(studentStates(), shortTeacher, PAIRS, identity), /pair \[1, 2\]: student states \[1,2,2\] and teacher states \[1,1,2\] differ in \[B, T\]; the token counts must match/);
      assert.throws(() => hiddenKd(studentStates(), teacherStates().slice(0, 3), PAIRS, identity), /the teacher has hidden states 0..2; the layer map asks for layer 4/);
      assert.throws(() => hiddenKd(studentStates(), teacherStates(), PAIRS, identity, tf.ones([1, 3])), /token mask \[1,3\] must be \[B, T\] = \[1,2\]/);
      const wide = teacherStates().map((x) => tf.concat([x, x], 2));
      assert.throws(() => hiddenKd(studentStates(), wide, PAIRS, identity), /adapted student states \[1,2,2\] and teacher states \[1,2,4\] differ in width/);
    });
  });

  it('leaks no tensors', () => {
    const [s, t, mask] = [studentStates(), teacherStates(), tf.tensor2d([[1, 0]])];
    const identity = new LayerAdaptors(PAIRS, 2, 2);
    assertNoLeak(() => hiddenKd(s, t, PAIRS, identity, mask));
    tf.dispose([...s, ...t, mask]);
  });
});
