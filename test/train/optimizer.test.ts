import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { Parameter } from '../../src/nn/module.js';
import { AdamW, clipGradNorm, decays } from '../../src/train/optimizer.js';
import { alphaAt, learningRate } from '../../src/train/schedule.js';

before(async () => {
  await initBackend('cpu');
});

describe('AdamW', () => {
  it('follows torch.optim.AdamW: decoupled decay on matrices only', () => {
    const weight = new Parameter([2, 2], { kind: 'ones' });
    const bias = new Parameter([2], { kind: 'ones' });
    weight.assign(new Float32Array(4).fill(1));
    bias.assign(new Float32Array(2).fill(1));
    const opt = new AdamW(new Map([['layer.weight', weight], ['layer.bias', bias]]), { weightDecay: 0.05 });
    for (let i = 0; i < 2; i++) {
      opt.apply({ [weight.value.name]: tf.fill([2, 2], 0.5), [bias.value.name]: tf.fill([2], 0.5) }, 0.1);
    }
    // By hand: w = 1·(1 − 0.1·0.05) − 0.1 = 0.895; then 0.895·0.995 − 0.1 = 0.790525 (m̂/√v̂ = 1 each step).
    weight.value.dataSync().forEach((v) => assert.ok(Math.abs(v - 0.790525) < 1e-6, `weight ${v}`));
    bias.value.dataSync().forEach((v) => assert.ok(Math.abs(v - 0.8) < 1e-6, `bias ${v}`));
    assert.equal(opt.step, 2);
    const state = opt.stateTensors();
    assert.ok(Math.abs(state.get('layer.weight.exp_avg')!.data()[0]! - 0.095) < 1e-7);
    opt.dispose();
  });

  it('decays no position or class embedding, of either tower', () => {
    const matrix = new Parameter([4, 2], { kind: 'zeros' });
    assert.equal(decays('text_encoder.embeddings.position_embeddings.weight', matrix), false);
    assert.equal(decays('vision_model.embeddings.position_embedding', matrix), false);
    assert.equal(decays('vision_model.embeddings.class_embedding', matrix), false);
    assert.equal(decays('text_encoder.embeddings.word_embeddings.weight', matrix), true);
    assert.equal(decays('text_encoder.encoder.layer.0.attention.self.query.weight', matrix), true);
  });

  it('clips the global gradient norm', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    assert.ok(Math.abs(clipGradNorm(grads, 1) - 5) < 1e-6);
    assert.ok(Math.abs(grads.a.dataSync()[0]! - 0.6) < 1e-5 && Math.abs(grads.b.dataSync()[1]! - 0.8) < 1e-5);
  });
});

describe('schedules', () => {
  it('warms up linearly, then decays by cosine to the floor', () => {
    const s = { kind: 'cosine' as const, lr: 1e-3, warmupSteps: 10, warmupLr: 0, totalSteps: 110, minLr: 1e-5 };
    assert.ok(Math.abs(learningRate(0, s) - 1e-4) < 1e-12);
    assert.ok(Math.abs(learningRate(9, s) - 1e-3) < 1e-12);
    assert.ok(Math.abs(learningRate(60, s) - (1e-5 + 0.5 * (1e-3 - 1e-5))) < 1e-12);
    assert.ok(Math.abs(learningRate(110, s) - 1e-5) < 1e-12);
    const step = { kind: 'step' as const, lr: 1, warmupSteps: 0, totalSteps: 100, stepSize: 30, gamma: 0.5 };
    assert.deepEqual([0, 29, 30, 65].map((i) => learningRate(i, step)), [1, 1, 0.5, 0.25]);
  });

  it('ramps alpha over the first epoch', () => {
    assert.deepEqual([0, 5, 10, 50].map((s) => alphaAt(s, 10, 0.4)), [0, 0.2, 0.4, 0.4]);
  });
});
