// distill() end to end on the tiny world with a fixture-sized teacher/student pair saved as Hugging
// Face folders (config.json + model.safetensors, as blip-base and dlip-small would come): the KD terms
// fall, final/ is exactly the student, the teacher is scored first, and no step leaks tensors.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { distill } from '../../src/distill/distill.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { readHeader } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-distill-'));
const teacherDir = join(work, 'teacher');
const studentDir = join(work, 'student');

async function saveFolder(dir: string, width: number, layers: number, seed: number, imageSize = 32): Promise<void> {
  const config = parseBlipConfig(
    {
      image_text_hidden_size: 8,
      vision_config: { hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, image_size: imageSize, patch_size: 8 },
      text_config: { vocab_size: 30524, hidden_size: width, encoder_hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, max_position_embeddings: 40 },
    },
    dir,
  );
  const model = createModel(config, 'BlipForPreTraining');
  initParameters(model, seed);
  await saveModel(model, dir);
  rmSync(join(dir, 'dlip.json')); // what remains is the Hugging Face layout
  model.dispose();
}

before(async () => {
  // The default backend (native when built): ten steps over a 30,524-word vocabulary take ~40 s on
  // the pure-JS cpu backend, ~5 s on native; what is checked here does not depend on the backend.
  await initBackend();
  process.env.DLIP_CACHE = join(work, 'cache');
  await saveFolder(teacherDir, 16, 2, 1);
  await saveFolder(studentDir, 8, 1, 2);
});

const base = { teacher: teacherDir, student: studentDir, world: 'tiny' as const, batchSize: 4, warmupSteps: 0, lr: 3e-3, logEvery: 1, evalImages: 4 };

describe('distill', () => {
  it('trains the student towards the teacher: KD falls, final/ holds only the student, tensors stay flat', async () => {
    const out = join(work, 'run');
    const kd: number[] = [];
    const live: number[] = [];
    const logged: string[][] = [];
    const teacherScores: Record<string, number>[] = [];
    const result = await distill({ ...base, out, steps: 10, checkpointEvery: 5 }, {
      onTeacherScore: (metrics) => teacherScores.push(metrics),
      onStep: (e) => {
        kd.push(Object.entries(e.terms).reduce((sum, [k, v]) => (k.startsWith('kd_') ? sum + v : sum), 0));
        logged.push(Object.keys(e.terms).sort());
        live.push(tf.memory().numTensors);
      },
    });
    assert.equal(result.steps, 10);
    assert.deepEqual(logged[0], ['itc', 'itm', 'kd_attention', 'kd_contrastive', 'kd_feature', 'kd_hidden', 'kd_itm', 'kd_lm', 'lm']);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(kd.slice(-3)) < mean(kd.slice(0, 3)), `KD per step: ${kd.map((x) => x.toFixed(3)).join(', ')}`);
    assert.deepEqual(live, live.map(() => live[0]), `live tensors per step: ${live.join(', ')}`);

    const studentKeys = [...(await readHeader(join(studentDir, 'model.safetensors'))).entries.keys()].sort();
    const finalKeys = [...(await readHeader(join(out, 'final', 'model.safetensors'))).entries.keys()].sort();
    assert.deepEqual(finalKeys, studentKeys);
    assert.ok(!existsSync(join(out, 'final', 'adaptors.safetensors')));
    assert.ok(existsSync(join(out, 'checkpoint', 'adaptors.safetensors')), 'the adaptors were not checkpointed');

    // The teacher was scored on the val split before training, once, and the score kept.
    assert.equal(teacherScores.length, 1);
    assert.deepEqual(Object.keys(teacherScores[0]!).sort(), ['ir1', 'r_mean', 'tr1']);
    const kept = JSON.parse(readFileSync(join(out, 'teacher.json'), 'utf8'));
    assert.deepEqual(kept.metrics, teacherScores[0]);
    assert.ok(kept.parameters.student < kept.parameters.teacher);
  });

  it('refuses a pair or options it cannot run, before training', async () => {
    const out = join(work, 'never');
    await assert.rejects(distill({ ...base, out, steps: 1, queueSize: 8 }), /queueSize 8: the ITC momentum queue is not built for distillation/);
    await assert.rejects(distill({ ...base, out, steps: 1, recipe: 'no-such' }), /recipe "no-such" is neither a file nor a shipped recipe/);
    const big = join(work, 'big-teacher');
    await saveFolder(big, 16, 2, 1, 64);
    await assert.rejects(distill({ ...base, teacher: big, out, steps: 1 }), /the student reads 32 px images and the teacher 64 px/);
    assert.ok(!existsSync(out), 'a refused run wrote its folder');
  });
});
