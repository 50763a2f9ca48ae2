import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { vqaRows } from '../../src/distill/rows.js';
import type { VqaBatch } from '../../src/objectives/vqa.js';

before(async () => {
  await initBackend('cpu');
});

/** Two questions: the first with two distinct answers (0.6 / 0.4 of the human answers), the second with one. */
function batch(): VqaBatch {
  return {
    pixels: tf.zeros([2, 3, 4, 4]),
    questionIds: tf.tensor2d([[1, 2, 3], [1, 4, 0]], [2, 3], 'int32'),
    questionMask: tf.tensor2d([[1, 1, 1], [1, 1, 0]], [2, 3], 'int32'),
    answerIds: tf.tensor2d([[5, 6, 7], [5, 8, 7], [5, 9, 7]], [3, 3], 'int32'),
    answerMask: tf.ones([3, 3], 'int32'),
    answerOf: [0, 0, 1],
    weights: [0.6, 0.4, 1],
    padTokenId: 0,
  };
}

describe('vqaRows', () => {
  it('weighs answer rows as the answer loss does: by their share of the human answers, over the questions', () => {
    tf.tidy(() => {
      const b = batch();
      const rows = vqaRows(b);
      assert.deepEqual(rows.sequenceWeights?.('decoder'), { weights: [0.6, 0.4, 1], divisor: 2 });
      assert.equal(rows.sequenceWeights?.('fused'), undefined, 'question rows are one per question: a plain mean');
      assert.equal(rows.sequenceWeights?.('vision'), undefined);
    });
  });

  it('divides by the kept questions when some are gated, and gates each answer row with its question', () => {
    tf.tidy(() => {
      const rows = vqaRows(batch(), tf.tensor1d([0, 1]));
      assert.equal(rows.sequenceWeights?.('decoder')?.divisor, 1);
      assert.deepEqual(Array.from(rows.keep('decoder')!.dataSync()), [0, 0, 1]);
      assert.equal(vqaRows(batch(), tf.tensor1d([0, 0])).sequenceWeights?.('decoder')?.divisor, 1, 'never 0, when every question is gated');
    });
  });
});
