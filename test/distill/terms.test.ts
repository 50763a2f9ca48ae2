// Every registered term on a tiny teacher/student pair of different widths and depths: a finite
// positive loss, 0 for a model against itself, gradients to the student and its adaptors only.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { AdaptorSet } from '../../src/distill/adaptor.js';
import type { Module } from '../../src/nn/module.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { TERMS } from '../../src/distill/terms/index.js';
import type { TermOptions } from '../../src/distill/terms/index.js';
import { disposeRecord, studentNegatives, teacherForward } from '../../src/distill/teacher.js';
import { pretrainRows } from '../../src/distill/rows.js';
import { createRng, initParameters } from '../../src/nn/init.js';
import { objective, pairBatch, pairModel, studentConfig, studentRecord, teacherConfig } from './pair.js';

before(async () => {
  await initBackend('cpu');
});

const all = { vision: 'uniform', text: 'uniform', fused: 'uniform', decoder: 'uniform' };
/** Options per term, as a recipe gives them (the schema fills defaults). */
const RAW: Record<string, unknown> = {
  contrastive: { weight: 1, temperature: 2 },
  itm: { weight: 1 },
  lm: { weight: 1, temperature: 2 },
  feature: { weight: 1, features: ['image', 'text'] },
  hidden: { weight: 1, modules: all },
  attention: { weight: 1, modules: all },
};

const variables = (m: Module) => [...m.namedParameters()].map(([, p]) => p.value);

function run(name: string, student: BlipForPreTraining, teacher: BlipForPreTraining) {
  const term = TERMS[name]!;
  const options = term.schema.parse(RAW[name]) as TermOptions;
  term.check(student.config, teacher.config, options);
  const adaptors = new AdaptorSet(term.adaptors?.(student.config, teacher.config, options) ?? {});
  initParameters(adaptors, 9);
  const batch = pairBatch();
  const needs = term.needs(options);
  // As distill() does: the student's pairs and the teacher's record first, off the tape.
  const negatives = studentNegatives(student, batch, createRng(3));
  const teacherRec = teacherForward(teacher, batch, objective, needs, negatives);
  const { value, grads } = tf.variableGrads(() => {
    const s = studentRecord(student, batch, needs, negatives);
    return term.loss(s, teacherRec, { options, adaptors, student, teacher, rows: pretrainRows(batch, s) });
  }, [...variables(student), ...variables(adaptors), ...variables(teacher)]);
  const loss = value.dataSync()[0]!;
  const norms = new Map(Object.entries(grads).map(([k, g]) => [k, tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]!)]));
  disposeRecord(teacherRec);
  tf.dispose([value, ...Object.values(grads), batch.pixels, batch.inputIds, batch.attentionMask]);
  return { loss, norms, adaptors, teacherVars: new Set(variables(teacher).map((v) => v.name)), adaptorVars: variables(adaptors).map((v) => v.name) };
}

describe('distillation terms', () => {
  for (const name of Object.keys(TERMS)) {
    it(`${name}: positive for a smaller student, gradients reach it and its adaptors, never the teacher`, () => {
      const student = pairModel(studentConfig(), 1);
      const teacher = pairModel(teacherConfig(), 2);
      const r = run(name, student, teacher);
      assert.ok(Number.isFinite(r.loss) && r.loss > 0, `loss ${r.loss}`);
      for (const v of r.teacherVars) assert.ok(!r.norms.has(v), `the teacher's ${v} got a gradient`);
      assert.ok([...r.norms.values()].some((n) => n > 0), 'no student gradient');
      for (const v of r.adaptorVars) assert.ok((r.norms.get(v) ?? 0) > 0, `adaptor ${v} got no gradient`);
      if (name === 'hidden') assert.ok(r.adaptorVars.length > 0, 'widths differ but the hidden term has no adaptors');
      r.adaptors.dispose();
      student.dispose();
      teacher.dispose();
    });

    it(`${name}: 0 for a model against itself`, () => {
      const model = pairModel(studentConfig(), 1);
      const r = run(name, model, model);
      assert.ok(Math.abs(r.loss) < 1e-5, `loss ${r.loss}`);
      r.adaptors.dispose();
      model.dispose();
    });
  }

  it('refuses pairs the options cannot compare, naming the field and the sizes', () => {
    const s = studentConfig();
    const t = teacherConfig();
    const wide = { ...s, image_text_hidden_size: 9 };
    assert.throws(() => TERMS.feature!.check(wide, t, TERMS.feature!.schema.parse({ weight: 1 })), /terms.feature.features: "image" is 9 wide in the student and 6 in the teacher/);
    assert.throws(() => TERMS.feature!.check(s, t, TERMS.feature!.schema.parse({ weight: 1, features: ['fused'] })), /"fused" is 8 wide in the student and 12/);
    assert.throws(() => TERMS.hidden!.check(s, t, TERMS.hidden!.schema.parse({ weight: 1, modules: { text: [[3, 1]] } })), /terms.hidden.modules.text: layer map pair \[3, 1\]: student layer 3 is outside 1..2/);
    const patches = { ...t, vision_config: { ...t.vision_config, patch_size: 2 } };
    assert.throws(() => TERMS.attention!.check(s, patches, TERMS.attention!.schema.parse({ weight: 1, modules: { fused: 'last' } })), /terms.attention.modules.fused: the student sees 5 image tokens and the teacher 17/);
  });
});
