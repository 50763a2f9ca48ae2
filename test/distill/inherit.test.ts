// Weight inheritance: a student of the teacher's width starts from mapped teacher layers (encoder and
// the decoder's own self-attention alike) and the teacher's embeddings and heads; a narrower tower is
// refused; distill() trains from the inherited weights.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { distill } from '../../src/distill/distill.js';
import { inheritFromTeacher } from '../../src/distill/inherit.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import type { Parameter } from '../../src/nn/module.js';
import { maxDiff } from './helpers.js';
import { pairConfig, pairModel } from './pair.js';

type Params = Map<string, Parameter>;

/** Every parameter of student layer `s` equals the teacher's layer `t` exactly, in all three stacks. */
function assertLayerEqual(student: Params, teacher: Params, s: number, t: number): void {
  const stacks = ['vision_model.encoder.layers', 'text_encoder.encoder.layer', 'text_decoder.bert.encoder.layer'];
  let compared = 0;
  for (const stack of stacks) {
    for (const [name, p] of student) {
      if (!name.startsWith(`${stack}.${s - 1}.`)) continue;
      const source = `${stack}.${t - 1}.${name.slice(`${stack}.${s - 1}.`.length)}`;
      assert.equal(maxDiff(p.value, teacher.get(source)!.value), 0, `student ${name} ≠ teacher ${source}`);
      compared++;
    }
  }
  // 12 vision, 26 text encoder and 10 decoder self-attention tensors per layer.
  assert.equal(compared, 48);
}

function assertSame(student: Params, teacher: Params, name: string): void {
  assert.equal(maxDiff(student.get(name)!.value, teacher.get(name)!.value), 0, `${name} differs from the teacher's`);
}

describe('inheritFromTeacher', () => {
  let teacher: BlipForPreTraining;
  before(async () => {
    await initBackend();
    teacher = pairModel(pairConfig(16, 4), 1);
  });
  after(() => teacher.dispose());

  it('"uniform" copies every second teacher layer of both towers, and the embeddings and heads', () => {
    const student = pairModel(pairConfig(16, 2), 2);
    const [s, t] = [student.namedParameters(), teacher.namedParameters()];
    // Before inheriting, the seeds differ: the comparisons below could fail.
    assert.ok(maxDiff(s.get('vision_model.encoder.layers.0.mlp.fc1.weight')!.value, t.get('vision_model.encoder.layers.1.mlp.fc1.weight')!.value) > 0);

    const summary = inheritFromTeacher(student, teacher, { vision: 'uniform', text: 'uniform' });
    assertLayerEqual(s, t, 1, 2);
    assertLayerEqual(s, t, 2, 4);
    for (const name of ['vision_model.embeddings.patch_embedding.weight', 'vision_model.embeddings.class_embedding', 'vision_model.post_layernorm.weight', 'text_encoder.embeddings.word_embeddings.weight', 'text_encoder.embeddings.LayerNorm.weight', 'vision_proj.weight', 'text_proj.weight', 'itm_head.weight', 'text_decoder.cls.predictions.decoder.weight', 'text_decoder.cls.predictions.bias', 'temp']) {
      assertSame(s, t, name);
    }
    assert.deepEqual(summary.kept, []);
    assert.equal(summary.copied.length, s.size);
    assert.ok(summary.copied.some((c) => c.student === 'text_decoder.bert.encoder.layer.1.attention.self.query.weight' && c.teacher === 'text_decoder.bert.encoder.layer.3.attention.self.query.weight'));
    student.dispose();
  });

  it('follows explicit pairs, and leaves a tower that is not asked at its init', () => {
    const student = pairModel(pairConfig(16, 2), 2);
    const [s, t] = [student.namedParameters(), teacher.namedParameters()];
    const fc1 = s.get('text_encoder.encoder.layer.0.intermediate.dense.weight')!.value.clone();
    const summary = inheritFromTeacher(student, teacher, { vision: [[1, 1], [2, 3]] });
    for (const [name, p] of s) {
      if (name.startsWith('vision_model.encoder.layers.0.')) assert.equal(maxDiff(p.value, t.get(name)!.value), 0, name);
      if (name.startsWith('vision_model.encoder.layers.1.')) assert.equal(maxDiff(p.value, t.get(name.replace('layers.1.', 'layers.2.'))!.value), 0, name);
    }
    assertSame(s, t, 'vision_model.embeddings.patch_embedding.weight');
    assertSame(s, t, 'vision_proj.weight');
    assert.equal(maxDiff(s.get('text_encoder.encoder.layer.0.intermediate.dense.weight')!.value, fc1), 0, 'the text tower was not asked for');
    assert.ok(summary.kept.includes('text_encoder.encoder.layer.0.intermediate.dense.weight'));
    assert.ok(summary.kept.includes('text_encoder.embeddings.word_embeddings.weight'));
    assert.ok(!summary.kept.some((n) => n.startsWith('vision')));
    fc1.dispose();
    student.dispose();
  });

  it('"last" copies only the last layer and keeps the others at init', () => {
    const student = pairModel(pairConfig(16, 2), 2);
    const summary = inheritFromTeacher(student, teacher, { vision: 'last', text: 'last' });
    assertLayerEqual(student.namedParameters(), teacher.namedParameters(), 2, 4);
    assert.equal(summary.kept.filter((n) => /layers?\.0\./.test(n)).length, 48);
    student.dispose();
  });

  it('refuses a tower narrower than the teacher\'s, naming both widths', () => {
    const student = pairModel(pairConfig(8, 2), 2);
    assert.throws(() => inheritFromTeacher(student, teacher, { vision: 'uniform' }), /student's vision tower is 8 wide and the teacher's 16/);
    assert.throws(() => inheritFromTeacher(student, teacher, { text: 'last' }), /student's text tower is 8 wide and the teacher's 16/);
    student.dispose();
  });
});

describe('distill with inherit', () => {
  const work = mkdtempSync(join(tmpdir(), 'dlip-inherit-'));
  const teacherDir = join(work, 'teacher');
  const studentFile = join(work, 'student.json');
  before(async () => {
    await initBackend();
    process.env.DLIP_CACHE = join(work, 'cache');
    const config = (layers: number) => ({
      image_text_hidden_size: 8,
      vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: layers, num_attention_heads: 2, image_size: 32, patch_size: 8 },
      text_config: { vocab_size: 30524, hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: layers, num_attention_heads: 2, max_position_embeddings: 40 },
    });
    const teacher = pairModel(parseBlipConfig(config(4), 'inherit test teacher'), 1);
    await saveModel(teacher, teacherDir);
    teacher.dispose();
    writeFileSync(studentFile, JSON.stringify(config(2)));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const base = { teacher: teacherDir, student: studentFile, world: 'tiny' as const, batchSize: 4, warmupSteps: 0, evalImages: 4, recipe: 'no-kd', steps: 1 };

  it('starts the student from the teacher\'s layers (one step at a negligible learning rate)', async () => {
    await distill({ ...base, out: join(work, 'run'), lr: 1e-9, inherit: { vision: 'uniform', text: 'uniform' } });
    const [student, teacher] = await Promise.all([loadModel(join(work, 'run', 'final')), loadModel(teacherDir)]);
    const [s, t] = [student.model.namedParameters(), teacher.model.namedParameters()];
    const near = (a: string, b: string) => assert.ok(maxDiff(s.get(a)!.value, t.get(b)!.value) < 1e-6, `${a} is not ${b}`);
    near('vision_model.encoder.layers.0.mlp.fc1.weight', 'vision_model.encoder.layers.1.mlp.fc1.weight');
    near('vision_model.encoder.layers.1.self_attn.qkv.weight', 'vision_model.encoder.layers.3.self_attn.qkv.weight');
    near('text_encoder.encoder.layer.1.crossattention.self.key.weight', 'text_encoder.encoder.layer.3.crossattention.self.key.weight');
    near('text_decoder.bert.encoder.layer.0.attention.self.value.weight', 'text_decoder.bert.encoder.layer.1.attention.self.value.weight');
    near('text_encoder.embeddings.word_embeddings.weight', 'text_encoder.embeddings.word_embeddings.weight');
    student.model.dispose();
    teacher.model.dispose();
  });

  it('refuses to overwrite a student loaded from a folder', async () => {
    await assert.rejects(distill({ ...base, student: teacherDir, out: join(work, 'never'), inherit: { text: 'last' } }), /is a model folder with its own weights; inherit only initialises a student built from a preset or config/);
  });
});
