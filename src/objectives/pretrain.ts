// BLIP's pre-training objective as three named, weighted terms: ITC (with momentum distillation
// and a feature queue, or plain in-batch InfoNCE), ITM with hard negatives, and LM.
import { tf } from '../engine/backend.js';
import { gatherRows, matmul } from '../engine/ops.js';
import { l2Normalize } from '../models/blip.js';
import type { BlipForPreTraining } from '../models/blip.js';
import { contrastiveTargets, itcLoss } from './itc.js';
import { itmLoss, sampleHardNegatives } from './itm.js';
import type { Uniform } from './itm.js';
import { IGNORE_INDEX, projectedCaptionLoss } from './lm.js';
import type { MomentumContrast } from './momentum.js';

export const PRETRAIN_TERMS = ['itc', 'itm', 'lm'] as const;
export type PretrainTerm = (typeof PRETRAIN_TERMS)[number];

export interface PretrainBatch {
  /** [B, 3, S, S] */
  pixels: tf.Tensor;
  /** [B, T] token ids starting with [CLS]; the objective swaps in [ENC] / [DEC] where BLIP does. */
  inputIds: tf.Tensor;
  attentionMask: tf.Tensor;
  /** Image identity per item, so two captions of one image are not each other's negatives. */
  imageIds: readonly number[];
}

export interface PretrainOptions {
  weights: Record<PretrainTerm, number>;
  /** Weight of the momentum model's distribution in the ITC targets (ramped by the trainer). */
  alpha: number;
  /** Momentum encoders and queue; without them ITC is plain in-batch InfoNCE. */
  momentum?: MomentumContrast;
  encTokenId: number;
  decTokenId: number;
  padTokenId: number;
  labelSmoothing: number;
  /** Caption tokens after [DEC] that are a fixed prompt ("a picture of "), not predicted. */
  promptLength?: number;
}

/** Momentum features of a batch, computed outside the gradient tape. */
export interface MomentumFeatures {
  image: tf.Tensor;
  text: tf.Tensor;
}

function replaceFirstToken(ids: tf.Tensor, token: number): tf.Tensor {
  const [b, t] = ids.shape as [number, number];
  return tf.concat([tf.fill([b, 1], token, 'int32'), ids.slice([0, 1], [b, t - 1])], 1);
}

/**
 * Before the step (no gradients): clamps the temperature as BLIP does, updates the momentum
 * encoders and returns their features of this batch.
 */
export function prepareMomentum(model: BlipForPreTraining, batch: PretrainBatch, options: PretrainOptions): MomentumFeatures | undefined {
  tf.tidy(() => model.temp.value.assign(tf.clipByValue(model.temp.value, 0.001, 0.5)));
  const m = options.momentum;
  if (!m) return undefined;
  m.update();
  return tf.tidy(() => {
    const image = l2Normalize(m.model.imageProjection(m.model.encodeImage(batch.pixels).lastHiddenState));
    const text = l2Normalize(m.model.textProjection(m.model.encodeText(batch.inputIds, batch.attentionMask).lastHiddenState));
    return { image, text };
  });
}

/** The weighted terms and their sum; call inside the gradient tape. */
export function pretrainLosses(
  model: BlipForPreTraining,
  batch: PretrainBatch,
  options: PretrainOptions,
  momentumFeatures: MomentumFeatures | undefined,
  random: Uniform,
): { total: tf.Scalar; terms: Record<PretrainTerm, tf.Scalar> } {
  const { inputIds, attentionMask } = batch;
  const b = batch.imageIds.length;
  const w = options.weights;
  const imageEmbeds = model.encodeImage(batch.pixels).lastHiddenState;
  const terms: Record<PretrainTerm, tf.Scalar> = { itc: tf.scalar(0), itm: tf.scalar(0), lm: tf.scalar(0) };

  if (w.itc > 0 || w.itm > 0) {
    const imageFeatures = l2Normalize(model.imageProjection(imageEmbeds));
    const textFeatures = l2Normalize(model.textProjection(model.encodeText(inputIds, attentionMask).lastHiddenState));
    if (w.itc > 0) {
      // Contrast with the momentum features of the batch and the queue (or the batch itself).
      const m = options.momentum;
      const imageCandidates = m ? tf.concat([momentumFeatures!.image, m.imageQueue], 0) : imageFeatures;
      const textCandidates = m ? tf.concat([momentumFeatures!.text, m.textQueue], 0) : textFeatures;
      const candidateIds = m ? [...batch.imageIds, ...m.queueIds] : [...batch.imageIds];
      const temp = model.temp.value;
      const momentumLogits = m && {
        imageToText: tf.div(matmul(momentumFeatures!.image, textCandidates, false, true), temp),
        textToImage: tf.div(matmul(momentumFeatures!.text, imageCandidates, false, true), temp),
        alpha: options.alpha,
      };
      terms.itc = itcLoss({
        imageFeatures,
        textFeatures,
        imageCandidates,
        textCandidates,
        targets: contrastiveTargets(batch.imageIds, candidateIds),
        temperature: temp,
        momentum: momentumLogits || undefined,
      });
    }
    if (w.itm > 0) {
      // [positives; (negative image, text); (image, negative text)], negatives from in-batch similarity.
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
    // The decoder reads [DEC] + caption; pads (and a prompt, as BLIP's captioner) are not predicted.
    const decIds = replaceFirstToken(inputIds, options.decTokenId);
    const [rows, length] = decIds.shape as [number, number];
    const promptEnd = tf.less(tf.range(0, length, 1, 'int32'), 1 + (options.promptLength ?? 0)).reshape([1, length]);
    const ignored = tf.logicalOr(tf.equal(decIds, options.padTokenId), tf.tile(promptEnd, [rows, 1]));
    const labels = tf.where(ignored, tf.fill(decIds.shape, IGNORE_INDEX, 'int32'), decIds);
    const decoder = model.textDecoder;
    const states = decoder.projectionInputs(decIds, attentionMask, { encoderHiddenStates: imageEmbeds });
    terms.lm = projectedCaptionLoss(states, decoder.cls.projection.weight, decoder.cls.projection.bias, labels, options.labelSmoothing);
  }

  const total = tf.addN(PRETRAIN_TERMS.map((k) => tf.mul(terms[k], w[k]))) as tf.Scalar;
  return { total, terms };
}

/** After the step: queue this batch's momentum features. */
export function finishMomentum(batch: PretrainBatch, options: PretrainOptions, features: MomentumFeatures | undefined): void {
  if (options.momentum && features) options.momentum.enqueue(features.image, features.text, batch.imageIds);
  if (features) tf.dispose([features.image, features.text]);
}
