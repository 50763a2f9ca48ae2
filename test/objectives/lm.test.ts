import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { linear } from '../../src/engine/ops.js';
import { captionLoss, IGNORE_INDEX, projectedCaptionLoss, sequenceLoss } from '../../src/objectives/lm.js';

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`LM losses [${backend}]`, () => {
    before(async () => {
      await initBackend(backend);
    });

    it('the fused projection + loss equals captionLoss on full logits, value and gradients', () => {
      tf.tidy(() => {
        const states = tf.randomNormal([3, 5, 4], 0, 1, 'float32', 1);
        const weight = tf.randomNormal([11, 4], 0, 1, 'float32', 2);
        const bias = tf.randomNormal([11], 0, 1, 'float32', 3);
        const labels = tf.tensor2d([[1, 4, 7, 9, 2], [1, 5, 2, IGNORE_INDEX, IGNORE_INDEX], [1, 10, 3, 3, 2]], [3, 5], 'int32');
        const reference = (s: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => captionLoss(linear(s, w, b), labels, 0.1);
        const fused = (s: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => projectedCaptionLoss(s, w, b, labels, 0.1, 4);
        assert.ok(Math.abs(reference(states, weight, bias).dataSync()[0]! - fused(states, weight, bias).dataSync()[0]!) < 1e-5);
        const gr = tf.grads(reference)([states, weight, bias]);
        const gf = tf.grads(fused)([states, weight, bias]);
        gr.forEach((g, i) => assert.ok(maxDiff(g, gf[i]!) < 1e-5, `gradient ${i}: ${maxDiff(g, gf[i]!)}`));
      });
    });

    it('smooths labels as PyTorch does, worked by hand on non-uniform logits', () => {
      tf.tidy(() => {
        // Position 0 predicts label 1 from logits [0, ln 2, 0]: p = [1/4, 1/2, 1/4]. With ε = 0.1 the
        // target is 0.9·onehot + 0.1/3 everywhere: 0.9·ln 2 + (0.1/3)(ln 4 + ln 2 + ln 4) = 0.739357;
        // without smoothing ln 2. Position 1 predicts nothing (the last label is the shifted input's end).
        const logits = tf.tensor3d([[[0, Math.log(2), 0], [5, -5, 0]]]);
        const labels = tf.tensor2d([[2, 1]], [1, 2], 'int32');
        assert.ok(Math.abs(captionLoss(logits, labels, 0.1).dataSync()[0]! - 0.739357) < 1e-5);
        assert.ok(Math.abs(captionLoss(logits, labels, 0).dataSync()[0]! - Math.LN2) < 1e-6);
      });
    });

    it('sums per sequence for VQA answers and counts only labelled positions', () => {
      tf.tidy(() => {
        // Uniform logits over V classes: every counted position costs log V, smoothed or not.
        const logits = tf.zeros([2, 4, 8]);
        const labels = tf.tensor2d([[1, 3, 2, IGNORE_INDEX], [1, 5, 6, 2]], [2, 4], 'int32');
        assert.deepEqual(Array.from(sequenceLoss(logits, labels).dataSync()).map((v) => +v.toFixed(5)), [+(2 * Math.log(8)).toFixed(5), +(3 * Math.log(8)).toFixed(5)]);
        assert.ok(Math.abs(captionLoss(logits, labels).dataSync()[0]! - Math.log(8)) < 1e-6);
        assert.throws(() => captionLoss(logits, tf.tensor2d([[1, 9, 2, 2], [1, 2, 2, 2]], [2, 4], 'int32')), /label 9 at \[0, 1\] is outside the vocabulary of 8/);
      });
    });
  });
}
