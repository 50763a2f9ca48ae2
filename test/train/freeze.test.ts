// Partial fine-tuning: parameters under a freeze prefix get no update (weight decay included), the
// others train as usual, and prefixes that name nothing or leave nothing to train are refused.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForImageTextRetrieval } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { train } from '../../src/train/trainer.js';
import type { TrainTask } from '../../src/train/trainer.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

type Batch = { pixels: tf.Tensor };
const batches: Batch[] = Array.from({ length: 3 }, (_, i) => ({ pixels: tf.randomNormal([2, 3, 8, 8], 0, 1, 'float32', 40 + i) }));
const outDir = () => mkdtempSync(join(tmpdir(), 'dlip-freeze-'));

/** Pulls the vision tower's output towards 1: every vision parameter gets a gradient. */
function task(model: BlipForImageTextRetrieval): TrainTask<Batch> {
  return {
    model,
    batchesPerEpoch: batches.length,
    batches: async function* (_epoch, skip) {
      yield* batches.slice(skip);
    },
    batchSize: (b) => b.pixels.shape[0]!,
    loss: (b) => {
      const loss = tf.mean(tf.square(tf.sub(model.encodeImage(b.pixels).lastHiddenState, 1))) as tf.Scalar;
      return { total: loss, terms: { mse: loss } };
    },
    release: () => undefined,
  };
}

function model(): BlipForImageTextRetrieval {
  const m = createModel(tinyConfig(), 'BlipForImageTextRetrieval') as BlipForImageTextRetrieval;
  initParameters(m, 3);
  return m;
}

const options = (freeze: string[]) => ({ outDir: outDir(), steps: 3, schedule: { kind: 'constant' as const, lr: 1e-2, warmupSteps: 0 }, seed: 0, freeze });

describe('trainer freeze', () => {
  it('leaves frozen parameters bit for bit as they were and trains the rest', async () => {
    const m = model();
    const before = new Map([...m.namedParameters()].map(([k, p]) => [k, Array.from(p.value.dataSync())]));
    await train(task(m), options(['vision_model.embeddings', 'vision_model.encoder.layers.0', 'text_encoder']));
    const changed = [...m.namedParameters()].filter(([k, p]) => Array.from(p.value.dataSync()).some((v, i) => v !== before.get(k)![i])).map(([k]) => k);
    assert.ok(changed.length > 0);
    for (const name of changed) assert.ok(/^vision_model\.(encoder\.layers\.1|post_layernorm)\./.test(name), `${name} changed`);
    // Weight decay would move every matrix of the unfrozen tower: both of layer 1's are among the changed.
    assert.ok(changed.includes('vision_model.encoder.layers.1.mlp.fc1.weight') && changed.includes('vision_model.encoder.layers.1.self_attn.qkv.weight'));
    // Without freezing, the first layer trains too.
    const free = model();
    const first = Array.from(free.namedParameters().get('vision_model.encoder.layers.0.mlp.fc1.weight')!.value.dataSync());
    await train(task(free), options([]));
    assert.notDeepEqual(Array.from(free.namedParameters().get('vision_model.encoder.layers.0.mlp.fc1.weight')!.value.dataSync()), first);
    m.dispose();
    free.dispose();
  });

  it('refuses prefixes that name no parameter (whole segments only) or leave nothing to train', async () => {
    const m = model();
    await assert.rejects(train(task(m), options(['vision_model.encoder.layer'])), /--freeze vision_model\.encoder\.layer: no parameter of the model is named so \(prefixes are whole name segments under vision_model, text_encoder/);
    await assert.rejects(train(task(m), options(['vision_model', 'text_encoder', 'vision_proj', 'text_proj', 'itm_head'])), /leaves no parameter to train/);
    m.dispose();
  });
});
