// BLIP's pre-training objective as three named, weighted terms: ITC (with momentum distillation
// and a feature queue, or plain in-batch InfoNCE), ITM with hard negatives, and LM. The forward is a
// record of its parts, so distillation can compare a student's and a teacher's on the same inputs.
import { tf } from '../engine/backend.js';
import { gatherRows, matmul } from '../engine/ops.js';
import { l2Normalize } from '../models/blip.js';
import type { BlipForPreTraining } from '../models/blip.js';
import type { EncoderOutput, OutputOptions } from '../models/outputs.js';
import { contrastiveTargets, softTargets, symmetricItc } from './itc.js';
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

/** Intermediate outputs to return besides what the losses need (distillation compares them). */
export interface PretrainOutputs {
  hiddenStates?: boolean;
  attentions?: boolean;
  /** Terms whose parts to compute even at weight 0 (a teacher scores what its student trains). */
  terms?: readonly PretrainTerm[];
}

/** ITM's hard negatives by batch index: a negative image per text, a negative text per image. */
export interface ItmNegatives {
  imageForText: readonly number[];
  textForImage: readonly number[];
}

/** Everything one pre-training forward computed; parts of terms that did not run are absent. */
export interface PretrainRecord {
  /** The vision tower. */
  image: EncoderOutput;
  /** The unimodal text encoder (ITC, ITM). */
  text?: EncoderOutput;
  /** The image-grounded encoder on the 3B ITM pairs: [positives; negative images; negative texts]. */
  fused?: EncoderOutput;
  /** The caption decoder (LM). */
  decoder?: EncoderOutput;
  /** L2-normalised ITC features [B, P] (ITC, ITM). */
  features?: { image: tf.Tensor; text: tf.Tensor };
  /** ITC logits at the model's temperature against the candidates ITC contrasts with [B, B(+Q)]. */
  similarity?: { imageToText: tf.Tensor; textToImage: tf.Tensor };
  /** ITC's targets over the same candidates: positives by image id, mixed with the momentum model's distribution when it runs. */
  itcTargets?: { imageToText: tf.Tensor; textToImage: tf.Tensor };
  /** [3B, 2] = [no-match, match] of the fused pairs. */
  itmLogits?: tf.Tensor;
  /** The negatives the fused pairs were built from (sampled, or as given). */
  negatives?: ItmNegatives;
  /** The decoder's vocabulary-projection inputs [B, T, W] and their labels [B, T] (IGNORE_INDEX where not predicted). */
  lm?: { states: tf.Tensor; labels: tf.Tensor };
}

/** ITC's candidates: momentum features of the batch then the queue, or the batch's own features. */
function itcCandidates(features: { image: tf.Tensor; text: tf.Tensor }, batch: PretrainBatch, options: PretrainOptions, momentumFeatures: MomentumFeatures | undefined) {
  const m = options.momentum;
  if (!m) return { image: features.image, text: features.text, ids: [...batch.imageIds] };
  if (!momentumFeatures) throw new Error('pretrain: ITC with momentum needs the batch\'s momentum features (from prepareMomentum)');
  return { image: tf.concat([momentumFeatures.image, m.imageQueue], 0), text: tf.concat([momentumFeatures.text, m.textQueue], 0), ids: [...batch.imageIds, ...m.queueIds] };
}

function checkNegatives(given: ItmNegatives, b: number): ItmNegatives {
  for (const name of ['imageForText', 'textForImage'] as const) {
    const list = given[name];
    if (list.length !== b) throw new Error(`pretrain: negatives.${name} holds ${list.length} indices for a batch of ${b}`);
    const bad = list.find((i) => !Number.isInteger(i) || i < 0 || i >= b);
    if (bad !== undefined) throw new Error(`pretrain: negatives.${name} holds ${bad}, not a batch index in [0, ${b})`);
  }
  return { imageForText: [...given.imageForText], textForImage: [...given.textForImage] };
}

/** ITM's hard negatives from the in-batch cosines at the model's temperature, imageForText drawn first. */
export function drawNegatives(model: BlipForPreTraining, features: { image: tf.Tensor; text: tf.Tensor }, imageIds: readonly number[], random: Uniform): ItmNegatives {
  const b = imageIds.length;
  const sim = matmul(features.image, features.text, false, true).dataSync() as Float32Array;
  const simT = new Float32Array(b * b); // transposed here: no second tensor and read-back per step
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) simT[j * b + i] = sim[i * b + j]!;
  const temperature = model.temp.value.dataSync()[0]!;
  const imageForText = sampleHardNegatives(simT, b, imageIds, temperature, random);
  return { imageForText, textForImage: sampleHardNegatives(sim, b, imageIds, temperature, random) };
}

/**
 * ITM's fused pass on the 3B pairs [positives; negative images; negative texts] of `negatives`, from
 * the image tokens `imageEmbeds` of the batch's images.
 */
export function itmPairs(model: BlipForPreTraining, imageEmbeds: tf.Tensor, batch: PretrainBatch, negatives: ItmNegatives, options: PretrainOptions, out: OutputOptions): Required<Pick<PretrainRecord, 'fused' | 'itmLogits' | 'negatives'>> {
  const { inputIds, attentionMask } = batch;
  const negImageForText = tf.tensor1d(Int32Array.from(negatives.imageForText), 'int32');
  const negTextForImage = tf.tensor1d(Int32Array.from(negatives.textForImage), 'int32');
  const encIds = replaceFirstToken(inputIds, options.encTokenId);
  const images = tf.concat([imageEmbeds, gatherRows(imageEmbeds, negImageForText), imageEmbeds], 0);
  const textIds = tf.concat([encIds, encIds, gatherRows(encIds, negTextForImage)], 0);
  const textMask = tf.concat([attentionMask, attentionMask, gatherRows(attentionMask, negTextForImage)], 0);
  const fused = model.encodeMultimodal(textIds, textMask, images, out);
  return { fused, itmLogits: model.itmLogits(fused.lastHiddenState), negatives };
}

/**
 * The pre-training forward as a record; call inside the gradient tape. Each term's parts are computed
 * when its weight is positive or `outputs.terms` asks for it. ITM draws its hard negatives from
 * `source`, or reuses given `{ negatives }` (which also turns ITM on), so a teacher can score exactly
 * the pairs its student trained on.
 */
export function pretrainForward(
  model: BlipForPreTraining,
  batch: PretrainBatch,
  options: PretrainOptions,
  momentumFeatures: MomentumFeatures | undefined,
  source: Uniform | { negatives: ItmNegatives },
  outputs: PretrainOutputs = {},
): PretrainRecord {
  const { inputIds, attentionMask } = batch;
  const b = batch.imageIds.length;
  const active = (term: PretrainTerm) => options.weights[term] > 0 || (outputs.terms?.includes(term) ?? false) || (term === 'itm' && typeof source !== 'function');
  const out: OutputOptions = { outputHiddenStates: outputs.hiddenStates, outputAttentions: outputs.attentions };
  const image = model.encodeImage(batch.pixels, out);
  const imageEmbeds = image.lastHiddenState;
  const record: PretrainRecord = { image };

  if (active('itc') || active('itm')) {
    record.text = model.encodeText(inputIds, attentionMask, out);
    const features = { image: l2Normalize(model.imageProjection(imageEmbeds)), text: l2Normalize(model.textProjection(record.text.lastHiddenState)) };
    record.features = features;
    if (active('itc')) {
      const candidates = itcCandidates(features, batch, options, momentumFeatures);
      const temp = model.temp.value;
      const hard = contrastiveTargets(batch.imageIds, candidates.ids);
      const mf = options.momentum && momentumFeatures; // itcCandidates refused momentum without features
      // BLIP computes the soft targets under no_grad: the temperature enters them as a number, so
      // it is trained only through the similarity it divides.
      const fixedTemp = mf ? temp.dataSync()[0]! : 0;
      record.itcTargets = mf
        ? {
            imageToText: softTargets(tf.div(matmul(mf.image, candidates.text, false, true), fixedTemp), hard, options.alpha),
            textToImage: softTargets(tf.div(matmul(mf.text, candidates.image, false, true), fixedTemp), hard, options.alpha),
          }
        : { imageToText: hard, textToImage: hard };
      record.similarity = {
        imageToText: tf.div(matmul(features.image, candidates.text, false, true), temp),
        textToImage: tf.div(matmul(features.text, candidates.image, false, true), temp),
      };
    }
    if (active('itm')) {
      const negatives = typeof source === 'function' ? drawNegatives(model, features, batch.imageIds, source) : checkNegatives(source.negatives, b);
      Object.assign(record, itmPairs(model, imageEmbeds, batch, negatives, options, out));
    }
  }

  if (active('lm')) {
    // The decoder reads [DEC] + caption; pads (and a prompt, as BLIP's captioner) are not predicted.
    const decIds = replaceFirstToken(inputIds, options.decTokenId);
    const [rows, length] = decIds.shape as [number, number];
    const promptEnd = tf.less(tf.range(0, length, 1, 'int32'), 1 + (options.promptLength ?? 0)).reshape([1, length]);
    const ignored = tf.logicalOr(tf.equal(decIds, options.padTokenId), tf.tile(promptEnd, [rows, 1]));
    const labels = tf.where(ignored, tf.fill(decIds.shape, IGNORE_INDEX, 'int32'), decIds);
    const decoder = model.textDecoder;
    // The states before the vocabulary projection: the fused LM loss projects them in chunks.
    record.decoder = decoder.bert.forward(decIds, attentionMask, { ...out, encoderHiddenStates: imageEmbeds, causal: true });
    record.lm = { states: decoder.cls.transform(record.decoder.lastHiddenState), labels };
  }
  return record;
}

/** The weighted terms of a record and their sum (0 for a term of weight 0); call inside the gradient tape. */
export function recordLosses(model: BlipForPreTraining, record: PretrainRecord, options: PretrainOptions): { total: tf.Scalar; terms: Record<PretrainTerm, tf.Scalar> } {
  const w = options.weights;
  const part = <T>(term: PretrainTerm, name: string, value: T | undefined): T => {
    if (value === undefined) throw new Error(`pretrain: ${term} has weight ${w[term]} but the record lacks its ${name} (made with other weights?)`);
    return value;
  };
  const terms: Record<PretrainTerm, tf.Scalar> = { itc: tf.scalar(0), itm: tf.scalar(0), lm: tf.scalar(0) };
  if (w.itc > 0) {
    terms.itc = symmetricItc(part('itc', 'similarity', record.similarity), part('itc', 'targets', record.itcTargets));
  }
  if (w.itm > 0) terms.itm = itmLoss(part('itm', 'ITM logits', record.itmLogits));
  if (w.lm > 0) {
    const { states, labels } = part('lm', 'decoder states', record.lm);
    const projection = model.textDecoder.cls.projection;
    terms.lm = projectedCaptionLoss(states, projection.weight, projection.bias, labels, options.labelSmoothing);
  }
  const total = tf.addN(PRETRAIN_TERMS.map((k) => tf.mul(terms[k], w[k]))) as tf.Scalar;
  return { total, terms };
}

/** The weighted terms and their sum; call inside the gradient tape. */
export function pretrainLosses(
  model: BlipForPreTraining,
  batch: PretrainBatch,
  options: PretrainOptions,
  momentumFeatures: MomentumFeatures | undefined,
  random: Uniform,
): { total: tf.Scalar; terms: Record<PretrainTerm, tf.Scalar> } {
  return recordLosses(model, pretrainForward(model, batch, options, momentumFeatures, random), options);
}

/** After the step: queue this batch's momentum features. */
export function finishMomentum(batch: PretrainBatch, options: PretrainOptions, features: MomentumFeatures | undefined): void {
  if (options.momentum && features) options.momentum.enqueue(features.image, features.text, batch.imageIds);
  if (features) tf.dispose([features.image, features.text]);
}
