// A task's extra modules (distillation's width adaptors): trained with the model, checkpointed and
// restored on resume, never exported to final/ or best/, and leak-free.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { AdaptorSet, LayerAdaptors } from '../../src/distill/adaptor.js';
import { readHeader } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForImageTextRetrieval } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import type { Module } from '../../src/nn/module.js';
import { train } from '../../src/train/trainer.js';
import type { TrainTask } from '../../src/train/trainer.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

type Batch = { pixels: tf.Tensor };
const batches: Batch[] = Array.from({ length: 4 }, (_, i) => ({ pixels: tf.randomNormal([2, 3, 8, 8], 0, 1, 'float32', 20 + i) }));
const schedule = { kind: 'constant' as const, lr: 1e-2, warmupSteps: 0 };
const outDir = () => mkdtempSync(join(tmpdir(), 'dlip-extra-'));

/** A model and adaptors from the vision tower's width (8) to a wider teacher's (12), seeded. */
function parts(modelSeed: number, adaptorSeed: number) {
  const model = createModel(tinyConfig(), 'BlipForImageTextRetrieval') as BlipForImageTextRetrieval;
  initParameters(model, modelSeed);
  const adaptors = new AdaptorSet({ vision: new LayerAdaptors([[1, 2]], 8, 12) });
  initParameters(adaptors, adaptorSeed);
  return { model, adaptors };
}

/** Pulls the adapted last vision layer's states towards 1: gradients reach model and adaptors alike. */
function task(model: BlipForImageTextRetrieval, adaptors: AdaptorSet, opts: { failAt?: number } = {}): TrainTask<Batch> {
  return {
    model,
    extraModules: { adaptors },
    batchesPerEpoch: batches.length,
    batches: async function* (_epoch, skip) {
      yield* batches.slice(skip);
    },
    batchSize: (b) => b.pixels.shape[0]!,
    loss: (b, ctx) => {
      if (ctx.step === opts.failAt) throw new Error(`killed at step ${ctx.step}`);
      const states = model.encodeImage(b.pixels, { outputHiddenStates: true }).hiddenStates![1]!;
      const loss = tf.mean(tf.square(tf.sub(adaptors.towers.vision!.forward(1, states), 1))) as tf.Scalar;
      return { total: loss, terms: { mse: loss } };
    },
    release: () => undefined,
  };
}

const snapshot = (m: Module) => new Map([...m.namedParameters()].map(([k, p]) => [k, Array.from(p.value.dataSync())]));

describe('trainer extra modules', () => {
  it('trains them with the model, checkpoints them, and exports only the model', async () => {
    const { model, adaptors } = parts(4, 5);
    const before = snapshot(adaptors);
    const out = outDir();
    await train(task(model, adaptors), { outDir: out, steps: 2, schedule, seed: 1 });
    for (const [key, value] of snapshot(adaptors)) assert.notDeepEqual(value, before.get(key), `${key} did not train`);

    const modelKeys = [...(await readHeader(join(out, 'checkpoint', 'model.safetensors'))).entries.keys()].sort();
    const finalKeys = [...(await readHeader(join(out, 'final', 'model.safetensors'))).entries.keys()].sort();
    assert.deepEqual(finalKeys, modelKeys);
    assert.ok(!finalKeys.some((k) => k.includes('adaptors') || k.startsWith('vision.')), 'final/ holds adaptor weights');
    assert.ok(!existsSync(join(out, 'final', 'adaptors.safetensors')));
    const saved = await readHeader(join(out, 'checkpoint', 'adaptors.safetensors'));
    assert.deepEqual([...saved.entries.keys()].sort(), ['vision.1.bias', 'vision.1.weight']);
    const moments = [...(await readHeader(join(out, 'checkpoint', 'optimizer.safetensors'))).entries.keys()];
    assert.ok(moments.includes('adaptors.vision.1.weight.exp_avg') && moments.includes('adaptors.vision.1.bias.exp_avg_sq'), 'adaptor moments missing');
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'checkpoint', 'trainer.json'), 'utf8')).extraModules, ['adaptors']);
    model.dispose();
    adaptors.dispose();
  });

  it('a run stopped after a checkpoint and resumed ends with the weights of an uninterrupted one', async () => {
    const whole = parts(4, 5);
    await train(task(whole.model, whole.adaptors), { outDir: outDir(), steps: 4, checkpointEvery: 2, schedule, seed: 1 });

    const out = outDir();
    const first = parts(4, 5);
    await assert.rejects(train(task(first.model, first.adaptors, { failAt: 3 }), { outDir: out, steps: 4, checkpointEvery: 2, schedule, seed: 1 }), /killed at step 3/);
    // A new process builds its modules afresh (other seeds here, so only the checkpoint can restore them).
    const resumed = parts(6, 7);
    const result = await train(task(resumed.model, resumed.adaptors), { outDir: out, steps: 4, checkpointEvery: 2, schedule, seed: 1, resume: true });
    assert.equal(result.startStep, 2);
    assert.deepEqual(snapshot(resumed.adaptors), snapshot(whole.adaptors));
    assert.deepEqual(snapshot(resumed.model), snapshot(whole.model));
    for (const p of [whole, first, resumed]) {
      p.model.dispose();
      p.adaptors.dispose();
    }
  });

  it('refuses a resume with other extra modules, and modules it cannot train or save', async () => {
    const { model, adaptors } = parts(4, 5);
    const out = outDir();
    await train(task(model, adaptors), { outDir: out, steps: 2, schedule, seed: 1 });
    const without = { ...task(model, adaptors), extraModules: undefined };
    await assert.rejects(train(without, { outDir: out, steps: 4, schedule, seed: 1, resume: true }), /checkpoint was trained with extra modules adaptors, this task has none/);
    const renamed = { ...task(model, adaptors), extraModules: { widths: adaptors } };
    await assert.rejects(train(renamed, { outDir: out, steps: 4, schedule, seed: 1, resume: true }), /trained with extra modules adaptors, this task has widths/);

    const named = (extraModules: Record<string, Module>) => train({ ...task(model, adaptors), extraModules }, { outDir: join(outDir(), 'never'), steps: 1, schedule, seed: 1 });
    await assert.rejects(named({ model: adaptors }), /"model" would overwrite the checkpoint's model.safetensors/);
    await assert.rejects(named({ vision_model: adaptors }), /"vision_model" clashes with the model's parameter vision_model\./);
    await assert.rejects(named({ 'a/b': adaptors }), /extra module name "a\/b" must be a letter/);
    await assert.rejects(named({ encoder: model.visionModel }), /extra module "encoder": parameter .* is also the model's/);
    await assert.rejects(named({ fresh: new AdaptorSet({ vision: new LayerAdaptors([[1, 2]], 8, 12) }) }), /extra module "fresh": parameter vision.1.weight has no value/);
    model.dispose();
    adaptors.dispose();
  });

  it('holds as many tensors after the last step as after the first, across a resume too', async () => {
    const { model, adaptors } = parts(4, 5);
    const live = () => tf.memory().numTensors;
    const out = outDir();
    const run = async (steps: number, resume: boolean) => {
      const perStep: number[] = [];
      const start = live();
      await train(task(model, adaptors), { outDir: out, steps, checkpointEvery: 1, schedule, seed: 1, resume }, { onStep: () => perStep.push(live()) });
      return { perStep, leaked: live() - start };
    };
    for (const r of [await run(3, false), await run(6, true)]) {
      assert.equal(r.perStep.length, 3);
      assert.deepEqual(r.perStep, r.perStep.map(() => r.perStep[0]), `live tensors per step: ${r.perStep.join(', ')}`);
      assert.equal(r.leaked, 0, 'the run leaves tensors behind');
    }
    model.dispose();
    adaptors.dispose();
  });
});
