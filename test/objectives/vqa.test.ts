import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForQuestionAnswering } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { answerWeights, vqaAnswerLoss } from '../../src/objectives/vqa.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

describe('VQA answer loss', () => {
  it('weights each distinct answer by its share of the human answers', () => {
    assert.deepEqual(answerWeights(['two', 'two', 'three', 'two']), [{ answer: 'two', weight: 0.75 }, { answer: 'three', weight: 0.25 }]);
  });

  it('is the weighted sum of per-answer losses over the number of questions', () => {
    const model = createModel(tinyConfig(), 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
    initParameters(model, 3);
    tf.tidy(() => {
      const pixels = tf.randomNormal([2, 3, 8, 8], 0, 1, 'float32', 1);
      const questionIds = tf.tensor2d([[1, 4, 5, 2], [1, 6, 2, 0]], [2, 4], 'int32');
      const questionMask = tf.tensor2d([[1, 1, 1, 1], [1, 1, 1, 0]], [2, 4], 'int32');
      const answerIds = tf.tensor2d([[3, 7, 2], [3, 8, 2], [3, 9, 2]], [3, 3], 'int32');
      const answerMask = tf.ones([3, 3], 'int32');
      const batch = { pixels, questionIds, questionMask, answerIds, answerMask, answerOf: [0, 0, 1], weights: [0.7, 0.3, 1], padTokenId: 0 };
      const total = vqaAnswerLoss(model, batch).dataSync()[0]!;
      const single = (row: number, q: number) =>
        vqaAnswerLoss(model, {
          ...batch,
          pixels: pixels.slice([q, 0, 0, 0], [1, -1, -1, -1]),
          questionIds: questionIds.slice([q, 0], [1, -1]),
          questionMask: questionMask.slice([q, 0], [1, -1]),
          answerIds: answerIds.slice([row, 0], [1, -1]),
          answerMask: answerMask.slice([row, 0], [1, -1]),
          answerOf: [0],
          weights: [1],
        }).dataSync()[0]!;
      const expected = (0.7 * single(0, 0) + 0.3 * single(1, 0) + single(2, 1)) / 2;
      assert.ok(Math.abs(total - expected) < 1e-5, `${total} vs ${expected}`);
    });
    model.dispose();
  });
});
