// The pre-training forward as a record: pretrainLosses computed from it gives exactly what the
// single-function objective gave (values and gradients), given negatives replay a record's ITM
// pairs, requested hidden states and attentions are there, and nothing leaks.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { gatherRows, matmul } from '../../src/engine/ops.js';
import { createModel, l2Normalize } from '../../src/models/blip.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { createRng, initParameters } from '../../src/nn/init.js';
import { contrastiveTargets, itcLoss } from '../../src/objectives/itc.js';
import { itmLoss, sampleHardNegatives } from '../../src/objectives/itm.js';
import type { Uniform } from '../../src/objectives/itm.js';
import { IGNORE_INDEX, projectedCaptionLoss } from '../../src/objectives/lm.js';
import { MomentumContrast } from '../../src/objectives/momentum.js';
import { PRETRAIN_TERMS, prepareMomentum, pretrainForward, pretrainLosses, recordLosses } from '../../src/objectives/pretrain.js';
import type { MomentumFeatures, PretrainBatch, PretrainOptions, PretrainRecord, PretrainTerm } from '../../src/objectives/pretrain.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

function replaceFirstToken(ids: tf.Tensor, token: number): tf.Tensor {
  const [b, t] = ids.shape as [number, number];
  return tf.concat([tf.fill([b, 1], token, 'int32'), ids.slice([0, 1], [b, t - 1])], 1);
}

/** pretrainLosses as it was before the record (commit 9a7ed9d), verbatim but for its name and the change marked below. */
function legacyPretrainLosses(model: BlipForPreTraining, batch: PretrainBatch, options: PretrainOptions, momentumFeatures: MomentumFeatures | undefined, random: Uniform): { total: tf.Scalar; terms: Record<PretrainTerm, tf.Scalar> } {
  const { inputIds, attentionMask } = batch;
  const b = batch.imageIds.length;
  const w = options.weights;
  const imageEmbeds = model.encodeImage(batch.pixels).lastHiddenState;
  const terms: Record<PretrainTerm, tf.Scalar> = { itc: tf.scalar(0), itm: tf.scalar(0), lm: tf.scalar(0) };
  if (w.itc > 0 || w.itm > 0) {
    const imageFeatures = l2Normalize(model.imageProjection(imageEmbeds));
    const textFeatures = l2Normalize(model.textProjection(model.encodeText(inputIds, attentionMask).lastHiddenState));
    if (w.itc > 0) {
      const m = options.momentum;
      const imageCandidates = m ? tf.concat([momentumFeatures!.image, m.imageQueue], 0) : imageFeatures;
      const textCandidates = m ? tf.concat([momentumFeatures!.text, m.textQueue], 0) : textFeatures;
      const candidateIds = m ? [...batch.imageIds, ...m.queueIds] : [...batch.imageIds];
      const temp = model.temp.value;
      // One deliberate change from the old code: the momentum targets see the temperature as a
      // number (BLIP computes them under no_grad), so it gets no gradient through them.
      const fixedTemp = temp.dataSync()[0]!;
      const momentumLogits = m && {
        imageToText: tf.div(matmul(momentumFeatures!.image, textCandidates, false, true), fixedTemp),
        textToImage: tf.div(matmul(momentumFeatures!.text, imageCandidates, false, true), fixedTemp),
        alpha: options.alpha,
      };
      terms.itc = itcLoss({ imageFeatures, textFeatures, imageCandidates, textCandidates, targets: contrastiveTargets(batch.imageIds, candidateIds), temperature: temp, momentum: momentumLogits || undefined });
    }
    if (w.itm > 0) {
      const encIds = replaceFirstToken(inputIds, options.encTokenId);
      const sim = matmul(imageFeatures, textFeatures, false, true).dataSync() as Float32Array;
      const simT = tf.transpose(tf.tensor2d(sim, [b, b])).dataSync() as Float32Array;
      const temperature = model.temp.value.dataSync()[0]!;
      const negImageForText = tf.tensor1d(sampleHardNegatives(simT, b, batch.imageIds, temperature, random), 'int32');
      const negTextForImage = tf.tensor1d(sampleHardNegatives(sim, b, batch.imageIds, temperature, random), 'int32');
      const images = tf.concat([imageEmbeds, gatherRows(imageEmbeds, negImageForText), imageEmbeds], 0);
      const textIds = tf.concat([encIds, encIds, gatherRows(encIds, negTextForImage)], 0);
      const textMask = tf.concat([attentionMask, attentionMask, gatherRows(attentionMask, negTextForImage)], 0);
      terms.itm = itmLoss(model.itmLogits(model.encodeMultimodal(textIds, textMask, images).lastHiddenState));
    }
  }
  if (w.lm > 0) {
    const decIds = replaceFirstToken(inputIds, options.decTokenId);
    const [rows, length] = decIds.shape as [number, number];
    const promptEnd = tf.less(tf.range(0, length, 1, 'int32'), 1 + (options.promptLength ?? 0)).reshape([1, length]);
    const ignored = tf.logicalOr(tf.equal(decIds, options.padTokenId), tf.tile(promptEnd, [rows, 1]));
    const labels = tf.where(ignored, tf.fill(decIds.shape, IGNORE_INDEX, 'int32'), decIds);
    const decoder = model.textDecoder;
    const states = decoder.cls.transform(decoder.bert.forward(decIds, attentionMask, { encoderHiddenStates: imageEmbeds, causal: true }).lastHiddenState);
    terms.lm = projectedCaptionLoss(states, decoder.cls.projection.weight, decoder.cls.projection.bias, labels, options.labelSmoothing);
  }
  const total = tf.addN(PRETRAIN_TERMS.map((k) => tf.mul(terms[k], w[k]))) as tf.Scalar;
  return { total, terms };
}

const B = 4;
const T = 6;
const ENC = 18;
const DEC = 19;
const PAD = 0;

function tinyModel(seed: number): BlipForPreTraining {
  const model = createModel(tinyConfig(), 'BlipForPreTraining') as BlipForPreTraining;
  initParameters(model, seed);
  return model;
}

/** Four captions of three images (items 1 and 2 share one), padded to different lengths. */
function tinyBatch(): PretrainBatch {
  const lengths = [6, 4, 5, 3];
  const ids = lengths.flatMap((n, i) => Array.from({ length: T }, (_, t) => (t === 0 ? 1 : t < n ? 2 + ((i * 5 + t * 3) % 15) : PAD)));
  return {
    pixels: tf.randomNormal([B, 3, 8, 8], 0, 1, 'float32', 7),
    inputIds: tf.tensor2d(ids, [B, T], 'int32'),
    attentionMask: tf.tensor2d(lengths.flatMap((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 : 0))), [B, T], 'int32'),
    imageIds: [0, 1, 1, 2],
  };
}

function options(weights: Record<PretrainTerm, number>, extra: Partial<PretrainOptions> = {}): PretrainOptions {
  return { weights, alpha: 0.4, encTokenId: ENC, decTokenId: DEC, padTokenId: PAD, labelSmoothing: 0.1, ...extra };
}

const values = (t: tf.Tensor) => Array.from(t.dataSync());
const ALL = { itc: 1, itm: 1, lm: 1 };

describe('pretrainLosses from the record', () => {
  const cases: [string, Record<PretrainTerm, number>, Partial<PretrainOptions>, number][] = [
    ['all terms, in-batch ITC', ALL, {}, 0],
    ['weighted terms with a prompt', { itc: 0.5, itm: 2, lm: 0.25 }, { promptLength: 2 }, 0],
    ['ITM only', { itc: 0, itm: 1, lm: 0 }, {}, 0],
    ['LM only', { itc: 0, itm: 0, lm: 1 }, {}, 0],
    ['all terms, momentum and queue', ALL, {}, 8],
  ];
  for (const [name, weights, extra, queue] of cases) {
    it(`gives the old objective's values and gradients bit for bit: ${name}`, () => {
      const model = tinyModel(5);
      const batch = tinyBatch();
      const momentum = queue ? new MomentumContrast(model, queue, 0.9, 2) : undefined;
      const opts = options(weights, { ...extra, momentum });
      const features = prepareMomentum(model, batch, opts);
      if (momentum) momentum.enqueue(features!.image, features!.text, batch.imageIds); // a queue holding real ids too
      const variables = [...model.namedParameters().values()].map((p) => p.value);
      const run = (f: typeof pretrainLosses) => {
        let terms: number[] = [];
        const { value, grads } = tf.variableGrads(() => {
          const r = f(model, batch, opts, features, createRng(11));
          terms = PRETRAIN_TERMS.map((k) => r.terms[k].dataSync()[0]!);
          return r.total;
        }, variables);
        const out = { total: value.dataSync()[0]!, terms, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, values(g)])) };
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const old = run(legacyPretrainLosses);
      const now = run(pretrainLosses);
      for (const k of PRETRAIN_TERMS) assert.equal(old.terms[PRETRAIN_TERMS.indexOf(k)]! > 0, weights[k] > 0, `${k} should run exactly when weighted`);
      assert.deepEqual(now.terms, old.terms);
      assert.equal(now.total, old.total);
      assert.deepEqual(Object.keys(now.grads).sort(), Object.keys(old.grads).sort());
      for (const [k, g] of Object.entries(old.grads)) assert.deepEqual(now.grads[k], g, `gradient of ${k}`);
      if (features) tf.dispose([features.image, features.text]);
      momentum?.dispose();
      model.dispose();
    });
  }

  it('refuses a weighted term whose parts the record lacks, and momentum without its features', () => {
    const model = tinyModel(5);
    const batch = tinyBatch();
    tf.tidy(() => {
      const lmOnly = pretrainForward(model, batch, options({ itc: 0, itm: 0, lm: 1 }), undefined, createRng(1));
      assert.throws(() => recordLosses(model, lmOnly, options(ALL)), /itc has weight 1 but the record lacks its similarity/);
      assert.throws(() => recordLosses(model, lmOnly, options({ itc: 0, itm: 1, lm: 1 })), /itm has weight 1 but the record lacks its ITM logits/);
    });
    const momentum = new MomentumContrast(model, 8, 0.9, 2);
    assert.throws(() => tf.tidy(() => pretrainLosses(model, batch, options(ALL, { momentum }), undefined, createRng(1))), /ITC with momentum needs the batch's momentum features/);
    momentum.dispose();
    model.dispose();
  });
});

/** Records every image-grounded (ITM) pass's inputs. */
function recordFusedInputs(model: BlipForPreTraining): number[][][] {
  const seen: number[][][] = [];
  const forward = model.encodeMultimodal.bind(model);
  model.encodeMultimodal = (ids, mask, images, ...rest) => {
    seen.push([values(ids), values(mask), values(images)]);
    return forward(ids, mask, images, ...rest);
  };
  return seen;
}

describe('pretrainForward', () => {
  it('replays given negatives: the same ITM inputs and logits, and a teacher scores the same pairs', () => {
    const student = tinyModel(5);
    const teacher = tinyModel(9);
    const batch = tinyBatch();
    const opts = options(ALL);
    const studentInputs = recordFusedInputs(student);
    const teacherInputs = recordFusedInputs(teacher);
    tf.tidy(() => {
      const sampled = pretrainForward(student, batch, opts, undefined, createRng(11));
      const negatives = sampled.negatives!;
      assert.equal(negatives.imageForText.length, B);
      negatives.imageForText.forEach((j, i) => assert.notEqual(batch.imageIds[j], batch.imageIds[i], `text ${i} got a caption of its own image as negative`));
      negatives.textForImage.forEach((j, i) => assert.notEqual(batch.imageIds[j], batch.imageIds[i], `image ${i} got its own caption as negative`));
      const replayed = pretrainForward(student, batch, opts, undefined, { negatives });
      assert.deepEqual(replayed.negatives, negatives);
      assert.deepEqual(studentInputs[1], studentInputs[0], 'the replay fed ITM other inputs');
      assert.deepEqual(values(replayed.itmLogits!), values(sampled.itmLogits!));

      // A teacher that trains no ITM still scores the student's pairs when handed its negatives.
      const scored = pretrainForward(teacher, batch, options({ itc: 0, itm: 0, lm: 0 }), undefined, { negatives });
      assert.deepEqual(scored.negatives, negatives);
      assert.equal(scored.itmLogits!.shape.join(), `${3 * B},2`);
      assert.deepEqual(teacherInputs[0]![0], studentInputs[0]![0], 'the teacher read other texts');
      assert.deepEqual(teacherInputs[0]![1], studentInputs[0]![1], 'the teacher read other masks');
      // Its image rows are its own embeddings, arranged as [positives; negative images; positives].
      const embeds = scored.image.lastHiddenState;
      const expected = tf.concat([embeds, gatherRows(embeds, tf.tensor1d(Int32Array.from(negatives.imageForText), 'int32')), embeds], 0);
      assert.deepEqual(teacherInputs[0]![2], values(expected));
    });
    student.dispose();
    teacher.dispose();
  });

  it('refuses negatives that do not fit the batch', () => {
    const model = tinyModel(5);
    const batch = tinyBatch();
    const run = (imageForText: number[], textForImage: number[]) => () => tf.tidy(() => { pretrainForward(model, batch, options(ALL), undefined, { negatives: { imageForText, textForImage } }); });
    assert.throws(run([1, 2, 3], [1, 2, 3, 0]), /negatives.imageForText holds 3 indices for a batch of 4/);
    assert.throws(run([1, 2, 3, 0], [1, 2, 4, 0]), /negatives.textForImage holds 4, not a batch index in \[0, 4\)/);
    assert.throws(run([1, 2, 3, 0.5], [1, 2, 3, 0]), /negatives.imageForText holds 0.5/);
    model.dispose();
  });

  it('computes a term\'s parts only when weighted or asked for', () => {
    const model = tinyModel(5);
    const batch = tinyBatch();
    tf.tidy(() => {
      const parts = (r: PretrainRecord) => Object.keys(r).filter((k) => r[k as keyof PretrainRecord] !== undefined).sort();
      assert.deepEqual(parts(pretrainForward(model, batch, options({ itc: 0, itm: 0, lm: 1 }), undefined, createRng(1))), ['decoder', 'image', 'lm']);
      assert.deepEqual(parts(pretrainForward(model, batch, options({ itc: 1, itm: 0, lm: 0 }), undefined, createRng(1))), ['features', 'image', 'itcTargets', 'similarity', 'text']);
      assert.deepEqual(parts(pretrainForward(model, batch, options({ itc: 0, itm: 1, lm: 0 }), undefined, createRng(1))), ['features', 'fused', 'image', 'itmLogits', 'negatives', 'text']);
      assert.deepEqual(parts(pretrainForward(model, batch, options({ itc: 0, itm: 0, lm: 0 }), undefined, createRng(1))), ['image']);
      const asked = pretrainForward(model, batch, options({ itc: 0, itm: 0, lm: 0 }), undefined, createRng(1), { terms: ['itc', 'itm', 'lm'] });
      assert.deepEqual(parts(asked), ['decoder', 'features', 'fused', 'image', 'itcTargets', 'itmLogits', 'lm', 'negatives', 'similarity', 'text']);
      // In-batch ITC: logits [B, B] at the temperature; the LM labels ignore [DEC] and pads.
      assert.equal(asked.similarity!.imageToText.shape.join(), `${B},${B}`);
      const temp = model.temp.value.dataSync()[0]!;
      const cosine = values(matmul(asked.features!.image, asked.features!.text, false, true));
      values(asked.similarity!.imageToText).forEach((v, i) => assert.ok(Math.abs(v - cosine[i]! / temp) < 1e-4, `logit ${i}: ${v} vs ${cosine[i]! / temp}`));
      const labels = values(asked.lm!.labels);
      assert.deepEqual(labels.slice(T * 3, T * 4), [IGNORE_INDEX, ...values(batch.inputIds).slice(T * 3 + 1, T * 3 + 3), IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]);
      assert.equal(asked.lm!.states.shape.join(), `${B},${T},8`);
    });
    model.dispose();
  });

  it('returns hidden states and attentions of every tower when asked', () => {
    const model = tinyModel(5);
    const batch = tinyBatch();
    const config = model.config;
    const imageTokens = (config.vision_config.image_size / config.vision_config.patch_size) ** 2 + 1;
    const heads = config.text_config.num_attention_heads;
    const width = config.text_config.hidden_size;
    tf.tidy(() => {
      const plain = pretrainForward(model, batch, options(ALL), undefined, createRng(1));
      for (const tower of ['image', 'text', 'fused', 'decoder'] as const) {
        assert.equal(plain[tower]!.hiddenStates, undefined, `${tower} hidden states unasked`);
        assert.equal(plain[tower]!.attentions, undefined, `${tower} attentions unasked`);
      }
      const r = pretrainForward(model, batch, options(ALL), undefined, createRng(1), { hiddenStates: true, attentions: true });
      const shapes = (ts: tf.Tensor[] | undefined) => ts?.map((t) => t.shape.join());
      const repeat = (n: number, shape: number[]) => Array.from({ length: n }, () => shape.join());
      const visionLayers = config.vision_config.num_hidden_layers;
      const textLayers = config.text_config.num_hidden_layers;
      assert.deepEqual(shapes(r.image.hiddenStates), repeat(visionLayers + 1, [B, imageTokens, config.vision_config.hidden_size]));
      assert.deepEqual(shapes(r.image.attentions), repeat(visionLayers, [B, config.vision_config.num_attention_heads, imageTokens, imageTokens]));
      assert.deepEqual(shapes(r.text!.hiddenStates), repeat(textLayers + 1, [B, T, width]));
      assert.deepEqual(shapes(r.text!.attentions), repeat(textLayers, [B, heads, T, T]));
      assert.equal(r.text!.crossAttentions, undefined);
      assert.deepEqual(shapes(r.fused!.hiddenStates), repeat(textLayers + 1, [3 * B, T, width]));
      assert.deepEqual(shapes(r.fused!.attentions), repeat(textLayers, [3 * B, heads, T, T]));
      assert.deepEqual(shapes(r.fused!.crossAttentions), repeat(textLayers, [3 * B, heads, T, imageTokens]));
      assert.deepEqual(shapes(r.decoder!.hiddenStates), repeat(textLayers + 1, [B, T, width]));
      assert.deepEqual(shapes(r.decoder!.crossAttentions), repeat(textLayers, [B, heads, T, imageTokens]));
      // The decoder is causal: nothing attends to a later position.
      const probs = r.decoder!.attentions![0]!.arraySync() as number[][][][];
      assert.equal(probs[0]![0]![1]![2], 0);
      // Asking for more changes nothing that the losses read.
      assert.deepEqual(values(r.itmLogits!), values(plain.itmLogits!));
      assert.deepEqual(values(r.lm!.states), values(plain.lm!.states));
    });
    model.dispose();
  });

  it('leaves no tensor behind inside tf.tidy', () => {
    const model = tinyModel(5);
    const batch = tinyBatch();
    const momentum = new MomentumContrast(model, 8, 0.9, 2);
    const opts = options(ALL, { momentum });
    const features = prepareMomentum(model, batch, opts);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const record = pretrainForward(model, batch, opts, features, createRng(1), { hiddenStates: true, attentions: true });
      recordLosses(model, record, opts);
      pretrainForward(model, batch, options(ALL), undefined, { negatives: record.negatives! });
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([features!.image, features!.text]);
    momentum.dispose();
    model.dispose();
  });
});
