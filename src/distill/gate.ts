// Per-sample gating (DLIP issue 10 §4): a sample the teacher gets wrong teaches the student only through
// its task loss. The verdicts are read off the teacher's side of the step, outside the gradient tape.
import { tf } from '../engine/backend.js';
import { linear } from '../engine/ops.js';
import type { BlipForPreTraining, BlipForQuestionAnswering } from '../models/blip.js';
import { scoredPositions } from '../objectives/lm.js';
import type { PretrainBatch, PretrainRecord } from '../objectives/pretrain.js';
import type { VqaBatch } from '../objectives/vqa.js';

/** Kept samples as a [B] 0/1 tensor (the terms' row gate) and how many were gated. */
export interface Gate {
  keep: tf.Tensor1D;
  gated: number;
}

function gateOf(kept: readonly boolean[]): Gate {
  return { keep: tf.tensor1d(kept.map((k) => (k ? 1 : 0)), 'float32'), gated: kept.filter((k) => !k).length };
}

/**
 * Pre-training and retrieval: sample i is gated when the teacher's ITM probability of "match" on its
 * true pair (image i, caption i) is below 0.5. Reuses the teacher record's ITM logits (their first B
 * rows are the true pairs) when it has them, else scores the true pairs alone.
 */
export function itmGate(teacher: BlipForPreTraining, batch: PretrainBatch, record: PretrainRecord, encTokenId: number): Gate {
  const b = batch.imageIds.length;
  const match = tf.tidy(() => {
    let logits = record.itmLogits?.slice([0, 0], [b, 2]);
    if (!logits) {
      const ids = batch.inputIds;
      const encIds = tf.concat([tf.fill([b, 1], encTokenId, 'int32'), ids.slice([0, 1], [b, ids.shape[1]! - 1])], 1);
      logits = teacher.itmLogits(teacher.encodeMultimodal(encIds, batch.attentionMask, record.image.lastHiddenState).lastHiddenState);
    }
    return tf.softmax(logits).slice([0, 1], [b, 1]).reshape([b]);
  });
  const p = match.dataSync() as Float32Array;
  match.dispose();
  return gateOf(Array.from(p, (x) => x >= 0.5));
}

/**
 * VQA: question q is gated when the teacher's greedy answer matches none of its human answers (VQA
 * accuracy 0). Greedy decoding yields answer row r exactly when the teacher's argmax at every scored
 * position of r is r's next token ([SEP] included), so the verdict comes from the teacher-forced
 * logits on the human answers, with no decoding loop. `record` is the teacher's vqaForward record.
 */
export function vqaGate(teacher: BlipForQuestionAnswering, batch: VqaBatch, record: PretrainRecord): Gate {
  if (!record.lm) throw new Error('distill --gate: the teacher record lacks its answer decoder states');
  const { states, labels } = record.lm;
  const [rows, length] = labels.shape as [number, number];
  const argmax = tf.tidy(() => tf.argMax(linear(states, teacher.textDecoder.cls.projection.weight, teacher.textDecoder.cls.projection.bias), -1));
  const best = argmax.dataSync() as Int32Array;
  argmax.dispose();
  const next = labels.dataSync() as Int32Array;
  const right = new Array<boolean>(rows).fill(true);
  for (const at of scoredPositions(labels)) if (best[at] !== next[at + 1]) right[Math.floor(at / length)] = false;
  const kept = new Array<boolean>(batch.questionIds.shape[0]!).fill(false);
  batch.answerOf.forEach((q, r) => {
    if (right[r]) kept[q] = true;
  });
  return gateOf(kept);
}
