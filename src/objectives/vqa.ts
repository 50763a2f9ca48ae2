// BLIP's VQA answer loss: the answer decoder, cross-attending to the question states, is trained on
// every distinct human answer of a question, each weighted by its share of the answers.
import { tf } from '../engine/backend.js';
import { gatherRows } from '../engine/ops.js';
import type { BlipForQuestionAnswering } from '../models/blip.js';
import { IGNORE_INDEX, sequenceLoss } from './lm.js';

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

/** Σ weight · (smoothed answer cross-entropy summed over tokens) / questions. */
export function vqaAnswerLoss(model: BlipForQuestionAnswering, batch: VqaBatch, labelSmoothing = 0.1): tf.Scalar {
  const image = model.encodeImage(batch.pixels).lastHiddenState;
  const questions = model.encodeQuestion(batch.questionIds, batch.questionMask, image).lastHiddenState;
  const rows = tf.tensor1d(Int32Array.from(batch.answerOf), 'int32');
  const states = gatherRows(questions, rows);
  const stateMask = gatherRows(batch.questionMask, rows);
  const logits = model.decodeAnswer(batch.answerIds, batch.answerMask, states, stateMask).logits;
  const labels = tf.where(tf.equal(batch.answerIds, batch.padTokenId), tf.fill(batch.answerIds.shape, IGNORE_INDEX, 'int32'), batch.answerIds);
  const perAnswer = sequenceLoss(logits, labels, labelSmoothing);
  return tf.div(tf.sum(tf.mul(perAnswer, tf.tensor1d(Float32Array.from(batch.weights)))), batch.questionIds.shape[0]!) as tf.Scalar;
}
