// Gradients of a whole (tiny) BLIP against central finite differences.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { captionLoss } from '../../src/objectives/lm.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

describe('finite-difference gradient check', () => {
  it('matches analytic gradients through vision, text, cross-attention, decoder and embeddings', () => {
    const model = createModel(tinyConfig(), 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 9);
    const params = model.namedParameters();
    // Larger weights than the 0.02 init so attention is far from uniform and every path matters.
    for (const p of params.values()) if (p.shape.length > 1) p.value.assign(tf.mul(p.value, 8));
    const ids = tf.tensor2d([[1, 4, 7, 9, 2], [1, 5, 4, 2, 0]], [2, 5], 'int32');
    const mask = tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], [2, 5], 'int32');
    const pixels = tf.randomNormal([2, 3, 8, 8], 0, 1, 'float32', 3);
    const loss = (): tf.Scalar =>
      tf.tidy(() => {
        const image = model.encodeImage(pixels).lastHiddenState;
        const sim = model.similarity(image, model.encodeText(ids, mask).lastHiddenState);
        const itm = tf.logSoftmax(model.itmLogits(model.encodeMultimodal(ids, mask, image).lastHiddenState));
        const lm = captionLoss(model.decode(ids, mask, image).logits, ids, 0.1);
        return tf.addN([tf.sum(tf.mul(sim, tf.tensor2d([[1, -1], [-0.5, 2]]))), tf.mean(itm), lm]) as tf.Scalar;
      });
    const probes: [string, number][] = [
      ['vision_model.embeddings.patch_embedding.weight', 5],
      ['vision_model.embeddings.position_embedding', 9],
      ['vision_model.encoder.layers.1.self_attn.qkv.weight', 40],
      ['vision_model.encoder.layers.0.layer_norm2.weight', 3],
      ['text_encoder.embeddings.word_embeddings.weight', 4 * 8 + 2],
      ['text_encoder.encoder.layer.0.crossattention.self.value.weight', 17],
      ['text_encoder.encoder.layer.1.crossattention.self.query.weight', 12],
      ['text_encoder.encoder.layer.1.attention.self.query.weight', 6],
      ['text_decoder.bert.encoder.layer.1.attention.self.value.weight', 21],
      ['text_decoder.cls.predictions.decoder.weight', 7 * 8 + 1],
      ['text_decoder.cls.predictions.bias', 9],
      ['itm_head.weight', 3],
      ['text_proj.weight', 11],
    ];
    const { grads } = tf.variableGrads(loss, probes.map(([k]) => params.get(k)!.value));
    const h = 1e-2;
    for (const [key, index] of probes) {
      const v = params.get(key)!.value;
      const analytic = grads[v.name]!.dataSync()[index]!;
      const data = v.dataSync().slice();
      const at = (delta: number) => {
        const moved = data.slice();
        moved[index]! += delta;
        v.assign(tf.tensor(moved, v.shape));
        return loss().dataSync()[0]!;
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      v.assign(tf.tensor(data, v.shape));
      const err = Math.abs(numeric - analytic);
      assert.ok(err <= 2e-3 + 2e-2 * Math.abs(numeric), `${key}[${index}]: analytic ${analytic}, numeric ${numeric}`);
      assert.ok(Math.abs(numeric) > 1e-5 || key.endsWith('bias'), `${key}[${index}] has no gradient to check (${numeric})`);
    }
    tf.dispose(Object.values(grads));
    model.dispose();
  });
});
