// The frozen teacher's side of a distillation step, run outside the gradient tape: its forward record
// on the student's ITM pairs, and those pairs, drawn from the student's own similarities as BLIP does.
import { tf } from '../engine/backend.js';
import { l2Normalize } from '../models/blip.js';
import type { BlipForPreTraining } from '../models/blip.js';
import type { Uniform } from '../objectives/itm.js';
import { drawNegatives, pretrainForward } from '../objectives/pretrain.js';
import type { ItmNegatives, PretrainBatch, PretrainOptions, PretrainRecord } from '../objectives/pretrain.js';
import type { TermNeeds } from './terms/index.js';

/**
 * The student's hard negatives for this batch (no gradients): in-batch cosines of its ITC features
 * at its temperature, imageForText drawn first, as pretrainForward draws them.
 */
export function studentNegatives(student: BlipForPreTraining, batch: PretrainBatch, random: Uniform): ItmNegatives {
  let negatives: ItmNegatives | undefined;
  tf.tidy(() => {
    const image = l2Normalize(student.imageProjection(student.encodeImage(batch.pixels).lastHiddenState));
    const text = l2Normalize(student.textProjection(student.encodeText(batch.inputIds, batch.attentionMask).lastHiddenState));
    negatives = drawNegatives(student, { image, text }, batch.imageIds, random);
  });
  return negatives!;
}

/**
 * The teacher's record of what the terms need, kept (every tensor in it) until disposeRecord; call
 * outside the gradient tape. ITM parts are computed on `negatives`, the student's pairs.
 */
export function teacherForward(teacher: BlipForPreTraining, batch: PretrainBatch, options: PretrainOptions, needs: TermNeeds, negatives?: ItmNegatives): PretrainRecord {
  if (needs.terms.includes('itm') && !negatives) throw new Error("distill: the teacher's ITM parts need the student's negatives");
  const source = negatives ? { negatives } : () => { throw new Error('distill: the teacher draws no ITM negatives of its own'); };
  const teacherOptions = { ...options, weights: { itc: 0, itm: 0, lm: 0 }, momentum: undefined };
  // pretrainForward's record is a plain object of tensors: tidy keeps every one of them.
  return tf.tidy(() => pretrainForward(teacher, batch, teacherOptions, undefined, source, needs) as unknown as tf.TensorContainer) as unknown as PretrainRecord;
}

export function disposeRecord(record: PretrainRecord): void {
  tf.dispose(record as unknown as tf.TensorContainer);
}
