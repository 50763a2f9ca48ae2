// The training loop on a tiny model with a simple loss: accumulation, the NaN guard, best-model keeping.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForImageTextRetrieval } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { MomentumContrast } from '../../src/objectives/momentum.js';
import { AdamW } from '../../src/train/optimizer.js';
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

  it('saves the checkpoint and final/ before the last evaluation, so a failing one loses nothing', async () => {
    const model = tinyModel();
    const out = mkdtempSync(join(tmpdir(), 'dlip-tr-'));
    const failing = { ...task(model, images.map((pixels) => ({ pixels }))), evaluate: async () => Promise.reject(new Error('no val split')) };
    await assert.rejects(train(failing, { outDir: out, steps: 2, evalEvery: 2, schedule, seed: 1 }), /no val split/);
    assert.equal(JSON.parse(readFileSync(join(out, 'checkpoint', 'trainer.json'), 'utf8')).step, 2);
    assert.ok(existsSync(join(out, 'final', 'dlip.json')));
    model.dispose();
  });

  it('refuses to resume a folder without a checkpoint, and a finished run', async () => {
    const model = tinyModel();
    const t = task(model, images.map((pixels) => ({ pixels })), { metrics: [0.5, 0.6] });
    const missing = join(mkdtempSync(join(tmpdir(), 'dlip-tr-')), 'never-ran');
    await assert.rejects(train(t, { outDir: missing, steps: 2, schedule, seed: 1, resume: true }), /cannot resume: .*never-ran holds no checkpoint .*run without --resume/);
    assert.ok(!existsSync(missing), 'a refused resume creates nothing');
    const out = mkdtempSync(join(tmpdir(), 'dlip-tr-'));
    await train(t, { outDir: out, steps: 2, schedule, seed: 1 });
    const log = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    await assert.rejects(train(t, { outDir: out, steps: 2, schedule, seed: 1, resume: true }), /already finished \(step 2 of 2; model in .*final\), nothing to resume/);
    assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), log, 'no second evaluation is logged');
    model.dispose();
  });

  it('reports where a resumed run started and the loss of a run resumed at its last step', async () => {
    const model = tinyModel();
    const t = task(model, images.map((pixels) => ({ pixels })));
    const out = mkdtempSync(join(tmpdir(), 'dlip-tr-'));
    const first = await train(t, { outDir: out, steps: 2, schedule, seed: 1 });
    assert.equal(first.startStep, 0);
    const longer = await train(t, { outDir: out, steps: 4, schedule, seed: 1, resume: true });
    assert.deepEqual([longer.startStep, longer.steps], [2, 4]);
    // Killed after the last checkpoint but before final/ was written: the resume writes final/ and knows the loss.
    rmSync(join(out, 'final'), { recursive: true });
    const end = await train(t, { outDir: out, steps: 4, schedule, seed: 1, resume: true });
    assert.deepEqual([end.startStep, end.steps], [4, 4]);
    assert.equal(end.lastLoss, longer.lastLoss);
    assert.ok(existsSync(join(out, 'final', 'dlip.json')));
    model.dispose();
  });

  it('warns once when the run ends inside the warm-up', async () => {
    const model = tinyModel();
    const warnings: string[] = [];
    const warm = { kind: 'cosine' as const, lr: 1e-2, warmupSteps: 10, warmupLr: 0 };
    await train(task(model, images.map((pixels) => ({ pixels }))), { outDir: mkdtempSync(join(tmpdir(), 'dlip-tr-')), steps: 2, schedule: warm, seed: 1 }, { onWarning: (m) => warnings.push(m) });
    assert.deepEqual(warnings, ['the run\'s 2 steps end inside the 10-step warm-up: the learning rate peaks at 0.00200, not 0.01 (lower --warmup-steps)']);
    model.dispose();
  });
});

describe('trainer tensor memory', () => {
  const live = () => tf.memory().numTensors;
  const batches = () => images.map((pixels) => ({ pixels }));

  /** Live tensors after each step of a run, and before and after the whole run. */
  async function counted(t: TrainTask<Batch>, options: Omit<Parameters<typeof train>[1], 'schedule' | 'seed'>) {
    const perStep: number[] = [];
    const before = live();
    await train(t, { schedule, seed: 1, ...options }, { onStep: () => perStep.push(live()) });
    return { before, perStep, after: live() };
  }

  for (const accumulate of [1, 2]) {
    it(`holds as many tensors after the last step as after the first, accumulate ${accumulate}`, async () => {
      const model = tinyModel();
      const run = await counted(task(model, batches()), { outDir: mkdtempSync(join(tmpdir(), 'dlip-tr-')), steps: 4, accumulate });
      assert.equal(run.perStep.length, 4);
      assert.deepEqual(run.perStep, run.perStep.map(() => run.perStep[0]), `live tensors per step: ${run.perStep.join(', ')}`);
      assert.equal(run.after, run.before, 'the run leaves tensors behind');
      model.dispose();
    });
  }

  it('leaks nothing across a resume of the optimizer and the momentum state', async () => {
    const model = tinyModel();
    const momentum = new MomentumContrast(model, 4, 0.9, 2);
    const withState: TrainTask<Batch> = {
      ...task(model, batches()),
      after: () => momentum.update(),
      saveState: () => momentum.state(),
      loadState: (tensors, json, source) => momentum.loadState(tensors, json, source),
    };
    const out = mkdtempSync(join(tmpdir(), 'dlip-tr-'));
    await train(withState, { outDir: out, steps: 2, schedule, seed: 1 });
    const resumed = await counted(withState, { outDir: out, steps: 4, resume: true });
    assert.equal(resumed.perStep.length, 2, 'the resumed run trains steps 3 and 4');
    assert.equal(resumed.perStep[1], resumed.perStep[0]);
    assert.equal(resumed.after, resumed.before, 'resuming leaves tensors behind');
    momentum.dispose();
    model.dispose();
  });

  it('frees every tensor of an optimizer it creates, loads and disposes', () => {
    const model = tinyModel();
    const before = live();
    const saved = new AdamW(model.namedParameters());
    const state = new Map([...saved.stateTensors()].map(([k, v]) => [k, { data: v.data() }]));
    saved.dispose();
    assert.equal(live(), before, 'AdamW keeps tensors after dispose');
    const loaded = new AdamW(model.namedParameters());
    loaded.loadState(state, 3, 'test state');
    loaded.dispose();
    assert.equal(live(), before, 'AdamW.loadState leaves tensors behind');
    model.dispose();
  });
});

