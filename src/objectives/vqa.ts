// BLIP's VQA answer loss: the answer decoder, cross-attending to the question states, is trained on
// every distinct human answer of a question, each weighted by its share of the answers. The forward is
// a record under the pre-training record's names, so distillation compares a VQA student and teacher
// with the same terms.
import { tf } from '../engine/backend.js';
import { gatherRows, linear } from '../engine/ops.js';
import type { BlipForQuestionAnswering } from '../models/blip.js';
import type { OutputOptions } from '../models/outputs.js';
import { IGNORE_INDEX, sequenceLoss } from './lm.js';
import type { PretrainRecord } from './pretrain.js';

/** Distinct answers with weight = occurrences / total (BLIP's VQA training targets). */
export function answerWeights(answers: readonly string[]): { answer: string; weight: number }[] {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  return [...counts].map(([answer, n]) => ({ answer, weight: n / answers.length }));
}

export interface VqaBatch {
  pixels: tf.Tensor;
  /** Questions [B, Tq], first token [ENC]. */
  questionIds: tf.Tensor;
  questionMask: tf.Tensor;
  /** Answer rows [N, Ta]: [DEC] answer [SEP], padded. */
  answerIds: tf.Tensor;
  answerMask: tf.Tensor;
  /** For each answer row, the index of its question in the batch. */
  answerOf: readonly number[];
  /** For each answer row, its weight. */
  weights: readonly number[];
  padTokenId: number;
}

/**
 * The VQA forward as a record: the vision tower in `image`, the question encoder (text with
 * cross-attention to the image) in `fused`, the answer decoder on the answer rows in `decoder`, and
 * its vocabulary-projection inputs [N, Ta, W] with labels (IGNORE_INDEX at pads) in `lm`.
 */
export function vqaForward(model: BlipForQuestionAnswering, batch: VqaBatch, outputs: OutputOptions = {}): PretrainRecord {
  const image = model.encodeImage(batch.pixels, outputs);
  const fused = model.encodeQuestion(batch.questionIds, batch.questionMask, image.lastHiddenState, outputs);
  const rows = tf.tensor1d(Int32Array.from(batch.answerOf), 'int32');
  const states = gatherRows(fused.lastHiddenState, rows);
  const stateMask = gatherRows(batch.questionMask, rows);
  const decoder = model.textDecoder.bert.forward(batch.answerIds, batch.answerMask, { ...outputs, encoderHiddenStates: states, encoderAttentionMask: stateMask, causal: true });
  const labels = tf.where(tf.equal(batch.answerIds, batch.padTokenId), tf.fill(batch.answerIds.shape, IGNORE_INDEX, 'int32'), batch.answerIds);
  return { image, fused, decoder, lm: { states: model.textDecoder.cls.transform(decoder.lastHiddenState), labels } };
}

/** Σ weight · (smoothed answer cross-entropy summed over tokens) / questions, from a vqaForward record. */
export function answerLoss(model: BlipForQuestionAnswering, record: PretrainRecord, batch: VqaBatch, labelSmoothing = 0.1): tf.Scalar {
  if (!record.lm) throw new Error('VQA: the record lacks its answer decoder states');
  const { weight, bias } = model.textDecoder.cls.projection;
  const perAnswer = sequenceLoss(linear(record.lm.states, weight, bias), record.lm.labels, labelSmoothing);
  return tf.div(tf.sum(tf.mul(perAnswer, tf.tensor1d(Float32Array.from(batch.weights)))), batch.questionIds.shape[0]!) as tf.Scalar;
}

/** Σ weight · (smoothed answer cross-entropy summed over tokens) / questions. */
export function vqaAnswerLoss(model: BlipForQuestionAnswering, batch: VqaBatch, labelSmoothing = 0.1): tf.Scalar {
  return answerLoss(model, vqaForward(model, batch), batch, labelSmoothing);
}
