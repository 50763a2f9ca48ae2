// Per-sample gating: the gates pick exactly the samples the teacher gets wrong (constructed cases),
// and a gated sample teaches nothing through the per-sample KD terms (their value is the kept samples'
// alone, its input gets no KD gradient) while its task loss still trains it.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { DEC_ID, ENC_ID, SEP_ID } from '../../src/data/tokenizer.js';
import { itmGate, vqaGate } from '../../src/distill/gate.js';
import { pretrainRows } from '../../src/distill/rows.js';
import { disposeRecord, teacherForward } from '../../src/distill/teacher.js';
import { TERMS } from '../../src/distill/terms/index.js';
import type { TermOptions } from '../../src/distill/terms/index.js';
import { AdaptorSet } from '../../src/distill/adaptor.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForQuestionAnswering } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { IGNORE_INDEX } from '../../src/objectives/lm.js';
import { recordLosses } from '../../src/objectives/pretrain.js';
import type { PretrainBatch, PretrainRecord } from '../../src/objectives/pretrain.js';
import type { VqaBatch } from '../../src/objectives/vqa.js';
import { objective, pairBatch, pairModel, studentConfig, studentRecord, teacherConfig } from './pair.js';
import { assertClose } from './helpers.js';

before(async () => {
  await initBackend('cpu');
});

const negatives3 = { imageForText: [1, 2, 0], textForImage: [2, 0, 1] };

describe('itmGate', () => {
  it('gates exactly the true pairs whose teacher match probability is below 0.5', () => {
    const batch = pairBatch();
    // Rows 0..2 are the true pairs ([no-match, match]); the negative pairs' rows must not matter.
    const itmLogits = tf.tensor2d([[0, 2], [1, -1], [0.1, 0], [5, -5], [5, -5], [5, -5], [-5, 5], [-5, 5], [-5, 5]]);
    const record = { image: { lastHiddenState: tf.zeros([3, 5, 8]) }, itmLogits } as PretrainRecord;
    const gate = itmGate(undefined as never, batch, record, ENC_ID);
    assert.deepEqual(Array.from(gate.keep.dataSync()), [1, 0, 0]);
    assert.equal(gate.gated, 2);
    tf.dispose([itmLogits, record.image.lastHiddenState, gate.keep, batch.pixels, batch.inputIds, batch.attentionMask]);
  });

  it("without the teacher's ITM logits, scores the true pairs itself, to the same verdicts", () => {
    const teacher = pairModel(teacherConfig(), 2);
    // A head that says "match" only when the first [ENC] state component is large: some pairs pass, some not.
    const batch = pairBatch();
    const withItm = teacherForward(teacher, batch, objective, { terms: ['itm'] }, negatives3);
    const p = tf.tidy(() => tf.softmax(withItm.itmLogits!.slice([0, 0], [3, 2])).slice([0, 1], [3, 1]).reshape([3]).arraySync() as number[]);
    const fromRecord = itmGate(teacher, batch, withItm, ENC_ID);
    const { itmLogits, ...rest } = withItm;
    const recomputed = itmGate(teacher, batch, rest as PretrainRecord, ENC_ID);
    assert.deepEqual(Array.from(recomputed.keep.dataSync()), p.map((x) => (x >= 0.5 ? 1 : 0)));
    assert.deepEqual(Array.from(recomputed.keep.dataSync()), Array.from(fromRecord.keep.dataSync()));
    itmLogits!.dispose();
    disposeRecord(withItm);
    tf.dispose([fromRecord.keep, recomputed.keep, batch.pixels, batch.inputIds, batch.attentionMask]);
    teacher.dispose();
  });
});

describe('vqaGate', () => {
  it("gates the questions whose teacher's greedy answer is none of the human answers", () => {
    const config = studentConfig();
    const teacher = createModel(config, 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
    initParameters(teacher, 3);
    // A projection that reads token k off state dimension k: the teacher's argmax is set by the states.
    const [YES, NO] = [2748, 2053];
    const width = config.text_config.hidden_size;
    const vocab = config.text_config.vocab_size;
    const weight = new Float32Array(vocab * width);
    [YES, NO, SEP_ID].forEach((token, k) => (weight[token * width + k] = 1));
    teacher.textDecoder.cls.predictions.decoder.weight.assign(weight);
    teacher.textDecoder.cls.predictions.bias.assign(new Float32Array(vocab));
    const say = (k: number) => Array.from({ length: width }, (_, i) => (i === k ? 5 : 0));
    const [sayYes, sayNo, saySep] = [say(0), say(1), say(2)];
    // Question 0: human answers "yes" and "no"; the teacher says "yes" → right.
    // Question 1: human answer "yes"; the teacher says "no" → wrong.
    // Question 2: human answer "no"; the teacher says "no yes" (no [SEP] after "no") → wrong.
    const answers = [
      [DEC_ID, YES, SEP_ID],
      [DEC_ID, NO, SEP_ID],
      [DEC_ID, YES, SEP_ID],
      [DEC_ID, NO, SEP_ID],
    ];
    const states = tf.tensor3d([
      [sayYes, saySep, saySep],
      [sayYes, saySep, saySep],
      [sayNo, saySep, saySep],
      [sayNo, sayYes, saySep],
    ]);
    const labels = tf.tensor2d(answers, [4, 3], 'int32');
    const batch = { questionIds: tf.zeros([3, 4], 'int32'), answerOf: [0, 0, 1, 2] } as unknown as VqaBatch;
    const gate = vqaGate(teacher, batch, { image: { lastHiddenState: tf.zeros([1]) }, lm: { states, labels } } as PretrainRecord);
    assert.deepEqual(Array.from(gate.keep.dataSync()), [1, 0, 0]);
    assert.equal(gate.gated, 2);
    // Pads after an answer are not scored: the same right answer padded stays right.
    const padded = tf.tensor2d([[DEC_ID, YES, SEP_ID, IGNORE_INDEX]], [1, 4], 'int32');
    const paddedStates = tf.tensor3d([[sayYes, saySep, sayNo, sayNo]]);
    const one = { questionIds: tf.zeros([1, 4], 'int32'), answerOf: [0] } as unknown as VqaBatch;
    const kept = vqaGate(teacher, one, { image: { lastHiddenState: tf.zeros([1]) }, lm: { states: paddedStates, labels: padded } } as PretrainRecord);
    assert.deepEqual(Array.from(kept.keep.dataSync()), [1]);
    teacher.dispose();
  });
});

/** The terms whose every row belongs to one sample (no in-batch candidates or negatives). */
const PER_SAMPLE: Record<string, unknown> = {
  lm: { weight: 1, temperature: 2 },
  feature: { weight: 1, features: ['image', 'text'] },
  hidden: { weight: 1, modules: { vision: 'uniform', text: 'uniform', decoder: 'uniform' } },
  attention: { weight: 1, modules: { vision: 'uniform', text: 'last', decoder: 'uniform' } },
};

function rowsOf(batch: PretrainBatch, rows: number[]): PretrainBatch {
  const at = tf.tensor1d(rows, 'int32');
  return { pixels: tf.gather(batch.pixels, at), inputIds: tf.gather(batch.inputIds, at), attentionMask: tf.gather(batch.attentionMask, at), imageIds: rows.map((r) => batch.imageIds[r]!) };
}

describe('gated rows in the KD terms', () => {
  const student = pairModel(studentConfig(), 1);
  const teacher = pairModel(teacherConfig(), 2);
  const all = Object.entries(PER_SAMPLE).map(([name, raw]) => {
    const term = TERMS[name]!;
    const options = term.schema.parse(raw) as TermOptions;
    const adaptors = new AdaptorSet(term.adaptors?.(student.config, teacher.config, options) ?? {});
    initParameters(adaptors, 9);
    return { name, term, options, adaptors };
  });
  const needs = { terms: ['itc', 'lm'] as const, hiddenStates: true, attentions: true };
  // The teacher's record is made first, off the tape, as distill() does.
  const teacherOn = (batch: PretrainBatch, negatives: typeof negatives3) => teacherForward(teacher, batch, objective, { ...needs, terms: [...needs.terms] }, negatives);
  const kd = (batch: PretrainBatch, negatives: typeof negatives3, keep?: tf.Tensor, teacherRec = teacherOn(batch, negatives)) => {
    const s = studentRecord(student, batch, { ...needs, terms: [...needs.terms] }, negatives);
    const rows = pretrainRows(batch, s, keep);
    const values = Object.fromEntries(all.map(({ name, term, options, adaptors }) => [name, term.loss(s, teacherRec, { options, adaptors, student, teacher, rows })]));
    return { values, record: s, teacherRec };
  };

  it("a gated sample adds nothing: each term's value is that of the kept samples alone", () => {
    tf.tidy(() => {
      const batch = pairBatch();
      const gated = kd(batch, negatives3, tf.tensor1d([1, 0, 1]));
      const kept = kd(rowsOf(batch, [0, 2]), { imageForText: [1, 0], textForImage: [1, 0] });
      const ungated = kd(batch, negatives3);
      for (const { name } of all) {
        const [g, k, u] = [gated.values[name]!, kept.values[name]!, ungated.values[name]!].map((t) => t.dataSync()[0]!);
        assert.ok(k > 0, `${name}: ${k}`);
        assertClose(g, k, 1e-4 * k, `${name} with sample 1 gated vs samples 0 and 2 alone`);
        // Sample 1's share differs from the others' (tiny random models differ little): gating must show.
        assert.ok(Math.abs(g - u) > 20 * Math.abs(g - k), `${name}: gating sample 1 changed nothing (${g} gated, ${u} ungated, ${k} kept alone)`);
      }
      disposeRecord(gated.teacherRec);
      disposeRecord(kept.teacherRec);
      disposeRecord(ungated.teacherRec);
    });
  });

  it('a gated sample gets no KD gradient, while its task loss still trains it', () => {
    tf.tidy(() => {
      const batch = pairBatch();
      const lmOnly = { ...objective, weights: { itc: 0, itm: 0, lm: 1 } };
      const teacherRec = teacherOn(batch, negatives3);
      const pixelGrad = (keep: tf.Tensor | undefined, which: 'kd' | 'task') =>
        tf.grad((pixels: tf.Tensor) => {
          const { values, record } = kd({ ...batch, pixels }, negatives3, keep, teacherRec);
          return which === 'kd' ? (tf.addN(Object.values(values)) as tf.Scalar) : recordLosses(student, record, lmOnly).total;
        })(batch.pixels);
      const sampleNorm = (g: tf.Tensor, i: number) => tf.sum(tf.abs(g.slice([i, 0, 0, 0], [1, -1, -1, -1]))).dataSync()[0]!;
      const keep = tf.tensor1d([0, 1, 1]); // sample 0 (no pads) is gated
      const gatedKd = pixelGrad(keep, 'kd');
      assert.equal(sampleNorm(gatedKd, 0), 0, 'the gated sample got a KD gradient');
      assert.ok(sampleNorm(gatedKd, 1) > 0 && sampleNorm(gatedKd, 2) > 0, 'the kept samples got no KD gradient');
      assert.ok(sampleNorm(pixelGrad(undefined, 'kd'), 0) > 0, 'ungated, sample 0 gets a KD gradient (else the check above proves nothing)');
      assert.ok(sampleNorm(pixelGrad(keep, 'task'), 0) > 0, 'the gated sample lost its task gradient');
    });
  });
});
