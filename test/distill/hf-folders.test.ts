// "From blip-base to dlip-small", at fixture size: the teacher is a Hugging Face-format retrieval folder
// (the config.json layout of test/fixtures/hf-blip-tiny, as transformers writes it, with BLIP's
// vocabulary; model.safetensors in HF key names; no dlip.json), as Salesforce's BLIP checkpoints are task
// models, and the student a narrower config JSON, as dlip-small is to blip-base. Task-adaptive
// distillation must build the student as configured, train it (the loss falls) and export a retriever
// that loads as that student.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { distill } from '../../src/distill/distill.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForImageTextRetrieval } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { FIXTURE_DIR } from '../helpers/fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-hf-folders-'));
const teacherDir = join(work, 'teacher');
const studentFile = join(work, 'student.json');

/** The fixture's HF config (BlipConfig.to_dict() with every default written out), at BLIP's vocabulary and special tokens. */
function hfTeacherConfig(): Record<string, unknown> {
  const raw = JSON.parse(readFileSync(join(FIXTURE_DIR, 'retrieval_config.json'), 'utf8')) as { text_config: Record<string, unknown> };
  return { ...raw, text_config: { ...raw.text_config, vocab_size: 30524, bos_token_id: 30522, sep_token_id: 102 } };
}

/** Half the width, half the depth, half the heads of the teacher; the same ITC space and image grid. */
const studentJson = {
  architectures: ['BlipForImageTextRetrieval'],
  image_text_hidden_size: 16,
  vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
  text_config: { vocab_size: 30524, hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 64 },
};

const shapes = (model: { namedParameters(): Map<string, { shape: readonly number[] }> }) =>
  Object.fromEntries([...model.namedParameters()].map(([k, p]) => [k, [...p.shape]]));

before(async () => {
  await initBackend();
  process.env.DLIP_CACHE = join(work, 'cache');
  const config = hfTeacherConfig();
  const teacher = createModel(parseBlipConfig(config, 'teacher'), 'BlipForImageTextRetrieval');
  initParameters(teacher, 1);
  await saveModel(teacher, teacherDir);
  teacher.dispose();
  // What a Hugging Face folder holds: transformers' config.json and the weights, no dlip manifest.
  rmSync(join(teacherDir, 'dlip.json'));
  writeFileSync(join(teacherDir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(studentFile, JSON.stringify(studentJson, null, 2));
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('distill from a Hugging Face-format teacher folder into a narrower config', () => {
  it('builds the student as configured, the loss falls, and final/ loads as that student', async () => {
    assert.ok(!existsSync(join(teacherDir, 'dlip.json')) && 'transformers_version' in JSON.parse(readFileSync(join(teacherDir, 'config.json'), 'utf8')));
    const out = join(work, 'run');
    const losses: number[] = [];
    const result = await distill(
      { teacher: teacherDir, student: studentFile, recipe: 'dlip-default', task: 'retrieval', world: 'tiny', out, steps: 8, batchSize: 4, warmupSteps: 0, lr: 3e-3, logEvery: 1, evalImages: 4 },
      { onStep: (e) => losses.push(e.loss) },
    );
    assert.equal(result.steps, 8);
    assert.equal(losses.length, 8);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // Eight steps at lr 3e-3 bring the task and KD terms down by more than these margins; an untrained
    // student stays within batch noise (a few tenths) of where it started.
    const trace = `total loss per step: ${losses.map((x) => x.toFixed(3)).join(', ')}`;
    assert.ok(losses.at(-1)! < losses[0]! - 0.5, trace);
    assert.ok(mean(losses.slice(-3)) < mean(losses.slice(0, 3)) - 0.25, trace);

    // The exported retriever is the student: its own config and exactly the parameters a model of it has.
    const { model, config } = await loadModel(result.modelDir!);
    try {
      assert.equal(model.architecture, 'BlipForImageTextRetrieval');
      assert.equal(config.vision_config.hidden_size, 16);
      assert.equal(config.vision_config.num_hidden_layers, 1);
      assert.equal(config.text_config.hidden_size, 16);
      assert.equal(config.text_config.num_hidden_layers, 1);
      const expected = createModel(parseBlipConfig(studentJson, studentFile), 'BlipForImageTextRetrieval');
      assert.deepEqual(shapes(model), shapes(expected));
      expected.dispose();
      const teacher = await loadModel(teacherDir);
      assert.notDeepEqual(shapes(model), shapes(teacher.model));
      assert.ok(model.parameterCount() < teacher.model.parameterCount() / 2, `student ${model.parameterCount()} vs teacher ${teacher.model.parameterCount()} parameters`);
      teacher.model.dispose();

      // And it runs: 16 patches + CLS at the student's width, ITC features in the shared 16-wide space.
      const student = model as BlipForImageTextRetrieval;
      tf.tidy(() => {
        const image = student.encodeImage(tf.zeros([2, 3, 32, 32])).lastHiddenState;
        assert.deepEqual(image.shape, [2, 17, 16]);
        assert.deepEqual(student.imageProjection(image).shape, [2, 16]);
      });
    } finally {
      model.dispose();
    }
  });
});
