// The training loop on a tiny model with a simple loss: accumulation, the NaN guard, best-model keeping.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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
const images = Array.from({ length: 4 }, (_, i) => tf.randomNormal([2, 3, 8, 8], 0, 1, 'float32', 10 + i));

/** Mean over images of ‖image feature − 1‖²: a per-example mean, so accumulation must equal one big batch. */
function task(model: BlipForImageTextRetrieval, batches: Batch[], opts: { nanAt?: number; metrics?: number[] } = {}): TrainTask<Batch> {
  let evals = 0;
  return {
    model,
    batchesPerEpoch: batches.length,
    batches: async function* (_epoch, skip) {
      yield* batches.slice(skip);
    },
    batchSize: (b) => b.pixels.shape[0]!,
    loss: (b, ctx) => {
      const feats = model.imageProjection(model.encodeImage(b.pixels).lastHiddenState);
      const loss = tf.mean(tf.square(tf.sub(feats, 1))) as tf.Scalar;
      const total = ctx.step === opts.nanAt ? (tf.mul(loss, NaN) as tf.Scalar) : loss;
      return { total, terms: { mse: loss } };
    },
    release: () => undefined,
    evaluate: opts.metrics && (async () => ({ score: opts.metrics![evals++]! })),
    selectMetric: 'score',
  };
}

function tinyModel(): BlipForImageTextRetrieval {
  const m = createModel(tinyConfig(), 'BlipForImageTextRetrieval') as BlipForImageTextRetrieval;
  initParameters(m, 4);
  return m;
}

const weights = (m: BlipForImageTextRetrieval) => [...m.namedParameters().values()].flatMap((p) => Array.from(p.value.dataSync()));
const schedule = { kind: 'constant' as const, lr: 1e-2, warmupSteps: 0 };

describe('trainer', () => {
  it('accumulating two half batches equals one whole batch', async () => {
    const whole = tinyModel();
    const halves = tinyModel();
    const joined = [0, 2].map((i) => ({ pixels: tf.concat([images[i]!, images[i + 1]!]) }));
    await train(task(whole, joined), { outDir: mkdtempSync(join(tmpdir(), 'dlip-tr-')), steps: 2, schedule, seed: 1 });
    const result = await train(task(halves, images.map((pixels) => ({ pixels }))), { outDir: mkdtempSync(join(tmpdir(), 'dlip-tr-')), steps: 2, accumulate: 2, schedule, seed: 1 });
    assert.equal(result.steps, 2);
    const a = weights(whole);
    const b = weights(halves);
    const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    assert.ok(worst < 1e-5, `max weight difference ${worst}`);
    whole.dispose();
    halves.dispose();
  });

  it('stops on a non-finite loss, names the last good checkpoint and writes nothing after it', async () => {
    const model = tinyModel();
    const out = mkdtempSync(join(tmpdir(), 'dlip-tr-'));
    await assert.rejects(
      train(task(model, images.map((pixels) => ({ pixels })), { nanAt: 3 }), { outDir: out, steps: 4, checkpointEvery: 2, schedule, seed: 1 }),
      (err: Error) => /loss became NaN at step 3/.test(err.message) && err.message.includes(join(out, 'checkpoint')),
    );
    assert.equal(JSON.parse(readFileSync(join(out, 'checkpoint', 'trainer.json'), 'utf8')).step, 2);
    assert.ok(!existsSync(join(out, 'final')));
    model.dispose();
  });

  it('keeps the model of the best validation score', async () => {
    const model = tinyModel();
    const out = mkdtempSync(join(tmpdir(), 'dlip-tr-'));
    const result = await train(task(model, images.map((pixels) => ({ pixels })), { metrics: [0.2, 0.9, 0.5, 0.1] }), { outDir: out, steps: 4, evalEvery: 1, schedule, seed: 1 });
    assert.deepEqual(result.best, { step: 2, metrics: { score: 0.9 } });
    assert.ok(existsSync(join(out, 'best', 'model.safetensors')));
    const log = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(log.filter((e) => e.eval).map((e) => e.eval.score), [0.2, 0.9, 0.5, 0.1]);
    model.dispose();
  });
});
