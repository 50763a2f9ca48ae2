import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { contrastiveTargets, itcLoss, softTargets } from '../../src/objectives/itc.js';
import { itmLoss, sampleHardNegatives } from '../../src/objectives/itm.js';
import { createRng } from '../../src/nn/init.js';

before(async () => {
  await initBackend('cpu');
});

describe('ITC', () => {
  it('builds positive targets by image id, normalised per row', () => {
    const t = contrastiveTargets([7, 8], [7, 8, 7, -1]);
    assert.deepEqual(Array.from(t.dataSync()), [0.5, 0, 0.5, 0, 0, 1, 0, 0]);
    assert.throws(() => contrastiveTargets([9], [7, 8]), /item 0 \(id 9\) has no positive/);
  });

  it('is the mean of both directions of InfoNCE, worked by hand', () => {
    // Orthonormal features: sim = identity; at temperature 0.5 each row's logits are [2, 0]:
    // loss = −log(e²/(e²+1)) = log(1 + e^−2) in both directions.
    const eye = tf.tensor2d([[1, 0], [0, 1]]);
    const loss = itcLoss({ imageFeatures: eye, textFeatures: eye, imageCandidates: eye, textCandidates: eye, targets: contrastiveTargets([0, 1], [0, 1]), temperature: 0.5 });
    assert.ok(Math.abs(loss.dataSync()[0]! - Math.log(1 + Math.exp(-2))) < 1e-6);
  });

  it('mixes the momentum distribution into the targets by alpha', () => {
    const soft = softTargets(tf.tensor2d([[0, 0]]), tf.tensor2d([[1, 0]]), 0.4).dataSync();
    assert.ok(Math.abs(soft[0]! - 0.8) < 1e-6 && Math.abs(soft[1]! - 0.2) < 1e-6);
  });
});

describe('ITM', () => {
  it('draws negatives from softmax(similarity / temperature), worked by hand', () => {
    // Row 0 of cosines [1, 0.9, 0.8] at BLIP's initial temperature 0.07: softmax gives
    // e^0 : e^(-0.1/0.07) : e^(-0.2/0.07) = 1 : 0.239651 : 0.057433, sum 1.297084, so
    // p1 = 0.184761 and p2 = 0.044278; + 1e-4 each and item 0 (itself) excluded, the draw picks
    // item 1 with probability 0.184861 / 0.229240 = 0.806411 (0.5250 without the temperature).
    const sim = Float32Array.from([1, 0.9, 0.8, 0.9, 1, 0.8, 0.8, 0.9, 1]);
    const draw = (u: number) => sampleHardNegatives(sim, 3, [0, 1, 2], 0.07, () => u)[0];
    assert.equal(draw(0.8062), 1);
    assert.equal(draw(0.8066), 2);
    assert.equal(draw(0), 1);
    assert.equal(draw(0.9999), 2);
    assert.throws(() => sampleHardNegatives(sim, 3, [0, 1, 2], 0, () => 0.5), /temperature must be positive/);
  });

  it('never draws another caption of the same image', () => {
    const sim = Float32Array.from([5, 0, 2, 0, 5, 0, 1, 1, 5]);
    const rng = createRng(1);
    for (let k = 0; k < 200; k++) {
      const picks = sampleHardNegatives(sim, 3, [4, 4, 5], 0.07, rng);
      assert.equal(picks[0], 2);
      assert.equal(picks[1], 2);
    }
    assert.throws(() => sampleHardNegatives(sim, 3, [1, 1, 1], 0.07, rng), /no negative/);
  });

  it('labels the first third as matches', () => {
    const logits = tf.tensor2d([[0, 3], [3, 0], [3, 0]]);
    const expected = Math.log(1 + Math.exp(-3));
    assert.ok(Math.abs(itmLoss(logits).dataSync()[0]! - expected) < 1e-6);
    assert.ok(Math.abs(itmLoss(tf.zeros([6, 2])).dataSync()[0]! - Math.LN2) < 1e-6);
  });
});
