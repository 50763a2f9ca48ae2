// Which rows and tokens of each module's outputs count in a batch, for the KD terms: text pads are
// left out, and so is every row of a gated sample (a pre-training sample owns its image, its caption,
// its three ITM pairs and its caption row; a VQA question owns its image, its question and its answer
// rows).
import { tf } from '../engine/backend.js';
import { gatherRows } from '../engine/ops.js';
import type { PretrainBatch, PretrainRecord } from '../objectives/pretrain.js';
import type { VqaBatch } from '../objectives/vqa.js';
import type { ModuleName } from './terms/modules.js';
import { part } from './terms/types.js';
import type { RecordRows } from './terms/types.js';

const indices = (list: readonly number[]) => tf.tensor1d(Int32Array.from(list), 'int32');

/** Rows of a pre-training record; `keep` [B] (1 = kept) gates samples. */
export function pretrainRows(batch: PretrainBatch, student: PretrainRecord, keep?: tf.Tensor): RecordRows {
  return {
    tokens(module: ModuleName) {
      if (module === 'vision') return undefined;
      if (module !== 'fused') return batch.attentionMask;
      // The fused pairs' texts: [positives; positives (negative images); negative texts].
      const negatives = part('fused', 'student', 'ITM negatives', student.negatives);
      const m = batch.attentionMask;
      return tf.concat([m, m, gatherRows(m, indices(negatives.textForImage))], 0);
    },
    keep(module: ModuleName) {
      if (!keep) return undefined;
      // Pair i of each third is built around sample i (its text with a negative image, its image with a negative text).
      return module === 'fused' ? tf.concat([keep, keep, keep], 0) : keep;
    },
  };
}

/** Rows of a VQA record (vqaForward's); `keep` [B] (1 = kept) gates questions. */
export function vqaRows(batch: VqaBatch, keep?: tf.Tensor): RecordRows {
  return {
    tokens(module: ModuleName) {
      if (module === 'text') throw new Error('distill: a VQA model has no unimodal text encoder; its question encoder is the "fused" module');
      return { vision: undefined, fused: batch.questionMask, decoder: batch.answerMask }[module];
    },
    keep(module: ModuleName) {
      if (!keep) return undefined;
      return module === 'decoder' ? gatherRows(keep, indices(batch.answerOf)) : keep;
    },
    // As the answer loss weighs them: each answer by its share of the human answers, per kept question.
    sequenceWeights(module: ModuleName) {
      if (module !== 'decoder') return undefined;
      const questions = keep ? Array.from(keep.dataSync()).filter((k) => Number(k) > 0).length : batch.questionIds.shape[0]!;
      return { weights: batch.weights, divisor: Math.max(questions, 1) };
    },
  };
}
