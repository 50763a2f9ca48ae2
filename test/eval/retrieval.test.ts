// Two-stage retrieval on a tiny model: the ITM rerank touches only each query's ITC top k, equals a
// pair-by-pair computation when k covers everything, and does not depend on how work is batched.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForImageTextRetrieval } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { evaluateRetrieval, NOT_RERANKED, recallAtK } from '../../src/eval/index.js';
import type { DenseMatrix, RetrievalScores } from '../../src/eval/index.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

const IMAGES = 4;
const TEXTS = 6;
const textToImage = [0, 0, 1, 2, 3, 3];

const model = createModel(tinyConfig(), 'BlipForImageTextRetrieval') as BlipForImageTextRetrieval;
initParameters(model, 21);
// At init std 0.02 every text looks alike to the tiny model and ITM logits are ~0.05: scale every
// normal-initialised weight up (std 0.4) so similarities differ and ITM reorders candidates.
for (const [, p] of model.namedParameters()) {
  if (p.init.kind === 'normal') p.assign(Float32Array.from(p.value.dataSync(), (v) => v * 20));
}

function inputs() {
  const pixels = tf.randomNormal([IMAGES, 3, 8, 8], 0, 1, 'float32', 9);
  const ids = tf.tensor2d(
    [[1, 4, 7, 9, 2], [1, 5, 3, 2, 0], [1, 8, 8, 2, 0], [1, 11, 6, 12, 2], [1, 13, 2, 0, 0], [1, 3, 14, 15, 2]],
    [TEXTS, 5],
    'int32',
  );
  const mask = tf.tensor2d(
    [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]],
    [TEXTS, 5],
    'int32',
  );
  return { pixels, ids, mask };
}

const at = (m: DenseMatrix, r: number, c: number) => m.data[r * m.cols + c]!;

/** ITM match logit + cosine of one pair, computed alone. */
function direct(pixels: tf.Tensor, ids: tf.Tensor, mask: tf.Tensor, i: number, t: number, firstToken?: number): number {
  return tf.tidy(() => {
    const embeds = model.encodeImage(pixels.slice(i, 1)).lastHiddenState;
    let tid = ids.slice(t, 1);
    if (firstToken !== undefined) tid = tf.concat([tf.fill([1, 1], firstToken, 'int32'), tid.slice([0, 1], [-1, -1])], 1);
    const itm = model.itmLogits(model.encodeMultimodal(tid, mask.slice(t, 1), embeds).lastHiddenState).dataSync()[1]!;
    const cos = model.similarity(embeds, model.encodeText(ids.slice(t, 1), mask.slice(t, 1)).lastHiddenState).dataSync()[0]!;
    return itm + cos;
  });
}

/** Indices of a row's k largest values. */
function topSet(values: number[], k: number): Set<number> {
  return new Set(values.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, j]) => j));
}

describe('two-stage retrieval', () => {
  let full: RetrievalScores;

  it('with k covering every item equals ITM + ITC computed pair by pair', async () => {
    const { pixels, ids, mask } = inputs();
    full = await evaluateRetrieval(model, pixels, { inputIds: ids, attentionMask: mask }, { groundTruth: { textToImage } });
    assert.equal(full.itmPairs, IMAGES * TEXTS);
    for (let i = 0; i < IMAGES; i++) {
      for (let t = 0; t < TEXTS; t++) {
        const expected = direct(pixels, ids, mask, i, t);
        assert.ok(Math.abs(at(full.imageToText, i, t) - expected) < 1e-5, `i2t[${i}][${t}] ${at(full.imageToText, i, t)} vs ${expected}`);
        assert.equal(at(full.textToImage, t, i), at(full.imageToText, i, t));
      }
    }
    // The recall is that of the returned matrices, and ITM reordered at least one query.
    assert.deepEqual(full.recall, recallAtK({ imageToText: full.imageToText, textToImageScores: full.textToImage, textToImage }));
    const changed = Array.from({ length: IMAGES }, (_, i) => i).some((i) => {
      const row = (m: DenseMatrix) => Array.from(m.data.subarray(i * TEXTS, (i + 1) * TEXTS));
      return [...topSet(row(full.similarity), 1)][0] !== [...topSet(row(full.imageToText), 1)][0];
    });
    assert.ok(changed, 'ITM should change some top-1 (else the rerank tests prove little)');
    // The first stage's recall is that of the cosine alone, which the rerank changed.
    assert.deepEqual(full.itcRecall, recallAtK({ imageToText: full.similarity, textToImage }));
    assert.notDeepEqual(full.itcRecall!.textRanks, full.recall!.textRanks);
    tf.dispose([pixels, ids, mask]);
  });

  it('with k = 1 keeps the ITC order at rank 1, so R@1 equals the first stage alone', async () => {
    const { pixels, ids, mask } = inputs();
    const r = await evaluateRetrieval(model, pixels, { inputIds: ids, attentionMask: mask }, { k: 1, groundTruth: { textToImage } });
    assert.equal(r.recall!.textRecall[1], r.itcRecall!.textRecall[1]);
    assert.equal(r.recall!.imageRecall[1], r.itcRecall!.imageRecall[1]);
    tf.dispose([pixels, ids, mask]);
  });

  it('reranks only within each query\'s ITC top k; everything else scores −100', async () => {
    const { pixels, ids, mask } = inputs();
    const k = 2;
    const r = await evaluateRetrieval(model, pixels, { inputIds: ids, attentionMask: mask }, { k });
    assert.ok(r.itmPairs >= TEXTS * k && r.itmPairs <= IMAGES * k + TEXTS * k && r.itmPairs < IMAGES * TEXTS);
    const sim = (i: number, t: number) => at(r.similarity, i, t);
    for (let i = 0; i < IMAGES; i++) {
      const top = topSet(Array.from({ length: TEXTS }, (_, t) => sim(i, t)), k);
      for (let t = 0; t < TEXTS; t++) {
        if (top.has(t)) assert.equal(at(r.imageToText, i, t), at(full.imageToText, i, t));
        else assert.equal(at(r.imageToText, i, t), NOT_RERANKED);
      }
    }
    for (let t = 0; t < TEXTS; t++) {
      const top = topSet(Array.from({ length: IMAGES }, (_, i) => sim(i, t)), k);
      for (let i = 0; i < IMAGES; i++) {
        if (top.has(i)) assert.equal(at(r.textToImage, t, i), at(full.textToImage, t, i));
        else assert.equal(at(r.textToImage, t, i), NOT_RERANKED);
      }
    }
    tf.dispose([pixels, ids, mask]);
  });

  it('does not depend on batch sizes or on images arriving as an async stream', async () => {
    const { pixels, ids, mask } = inputs();
    const texts = { inputIds: ids, attentionMask: mask };
    const small = await evaluateRetrieval(model, pixels, texts, { k: 3, imageBatchSize: 1, textBatchSize: 1, itmBatchSize: 1 });
    const odd = await evaluateRetrieval(model, pixels, texts, { k: 3, imageBatchSize: 3, textBatchSize: 4, itmBatchSize: 7 });
    async function* stream() {
      yield pixels.slice(0, 2);
      yield pixels.slice(2, 2);
    }
    const streamed = await evaluateRetrieval(model, stream(), texts, { k: 3, disposeImageBatches: true });
    for (const other of [odd, streamed]) {
      for (const key of ['similarity', 'imageToText', 'textToImage'] as const) {
        small[key].data.forEach((v, n) => assert.ok(Math.abs(v - other[key].data[n]!) < 1e-6, `${key}[${n}]`));
      }
    }
    tf.dispose([pixels, ids, mask]);
  });

  it("can put BLIP's [ENC] first for ITM", async () => {
    const { pixels, ids, mask } = inputs();
    const r = await evaluateRetrieval(model, pixels, { inputIds: ids, attentionMask: mask }, { itmFirstTokenId: 17 });
    const expected = direct(pixels, ids, mask, 2, 3, 17);
    assert.ok(Math.abs(at(r.imageToText, 2, 3) - expected) < 1e-5);
    assert.ok(Math.abs(at(r.imageToText, 2, 3) - at(full.imageToText, 2, 3)) > 1e-4);
    tf.dispose([pixels, ids, mask]);
  });

  it('leaks no tensors and rejects bad input readably', async () => {
    const { pixels, ids, mask } = inputs();
    const texts = { inputIds: ids, attentionMask: mask };
    const before = tf.memory().numTensors;
    await evaluateRetrieval(model, pixels, texts, { k: 2, imageBatchSize: 3 });
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(evaluateRetrieval(model, pixels, texts, { k: 0 }), /k must be a positive integer/);
    await assert.rejects(evaluateRetrieval(model, pixels, { inputIds: ids, attentionMask: mask.slice(0, 3) }), /must be the same/);
    await assert.rejects(evaluateRetrieval(model, [], texts), /no images/);
    await assert.rejects(evaluateRetrieval(model, [pixels.reshape([-1])], texts), /expected \[B, 3, S, S\]/);
    assert.equal(tf.memory().numTensors, before + 2); // the two argument tensors built above
    tf.dispose([pixels, ids, mask]);
  });
});
