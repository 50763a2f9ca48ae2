// What `dlip pretrain` and `dlip finetune` accept and say: one set of training options, counts that
// must be positive, suggestions that name only flags the command has, and honest progress lines.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { initBackend } from '../../src/engine/backend.js';
import { saveModel, WEIGHTS_FILE, MANIFEST_FILE } from '../../src/io/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { trainedSummary, trainingProgress } from '../../src/cli/progress.js';
import type { TrainEvent } from '../../src/train/trainer.js';
import { BIN } from '../helpers/bin.js';
import { tinyConfig } from '../helpers/tiny.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-train-cli-'));
const env = { ...process.env, DLIP_BACKEND: 'cpu', DLIP_CACHE: join(work, 'cache') };
const dlip = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });

/** The long flags a command's --help lists. */
function flagsOf(command: string): Set<string> {
  const help = dlip(command, '--help');
  assert.equal(help.status, 0, help.stderr);
  return new Set([...help.stdout.matchAll(/^\s+(--[a-z][a-z-]*)/gm)].map((m) => m[1]!));
}

before(async () => {
  await initBackend('cpu');
});

describe('training commands', () => {
  it('finetune takes every option pretrain has, --accumulate and --clip-norm included', () => {
    const pretrain = flagsOf('pretrain');
    const finetune = flagsOf('finetune');
    assert.ok(pretrain.has('--accumulate') && pretrain.has('--clip-norm'));
    assert.deepEqual([...pretrain].filter((f) => !finetune.has(f)), []);
  });

  it('rejects zero where a count must be positive, naming the option', () => {
    for (const flag of ['--steps', '--batch-size', '--accumulate']) {
      const run = dlip('finetune', '--task', 'retrieval', '--model', 'none', '--out', join(work, 'never'), flag, '0');
      assert.equal(run.status, 1, flag);
      assert.match(run.stderr, new RegExp(`option '${flag} <n>' argument '0' is invalid\\. "0" is not a positive integer`), flag);
    }
    const size = dlip('data', 'synth', '--out', join(work, 'never'), '--size', '0');
    assert.match(size.stderr, /option '--size <px>' argument '0' is invalid\. "0" is not a positive integer/);
    const negative = dlip('pretrain', '--out', join(work, 'never'), '--warmup-steps', '-1');
    assert.match(negative.stderr, /"-1" is not a non-negative integer/);
  });

  it('suggests only flags the command at hand has when weights do not fit', async () => {
    // A pre-training checkpoint that lacks one tensor, without the manifest that would flag the edit.
    const dir = join(work, 'misfit');
    const model = createModel(tinyConfig(), 'BlipForPreTraining');
    initParameters(model, 1);
    await saveModel(model, dir);
    model.dispose();
    const tensors = await readSafetensors(join(dir, WEIGHTS_FILE));
    tensors.delete('text_proj.weight');
    await writeSafetensors(join(dir, WEIGHTS_FILE), new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data as Float32Array }])));
    rmSync(join(dir, MANIFEST_FILE));
    for (const args of [['finetune', '--task', 'vqa', '--out', join(work, 'vqa')], ['eval', '--tasks', 'retrieval']]) {
      const run = dlip(...args, '--model', dir, '--world', 'tiny');
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /do not fit the model:\nmissing \(1\):\n {2}text_proj\.weight/);
      const known = flagsOf(args[0]!);
      const suggested = [...run.stderr.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
      assert.deepEqual(suggested.filter((f) => !known.has(f)), [], `dlip ${args[0]} suggests flags it lacks:\n${run.stderr}`);
    }
  });
});

describe('training progress', () => {
  const event = (step: number): TrainEvent => ({ step, totalSteps: 30, epoch: 0, lr: 1e-4, loss: 1.5, terms: {}, imagesPerSecond: 10 });

  it('shows no ETA before it has a rate, then one from the steps this process ran', async () => {
    let text = '';
    const stream = Object.assign(new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) }), { isTTY: false });
    const progress = trainingProgress('pretrain', stream);
    try {
      progress.onStep!(event(21)); // a resumed run's first step
      assert.match(text, /21\/30 steps .* ETA --/);
      assert.doesNotMatch(text, /ETA 0/);
      await new Promise((r) => setTimeout(r, 200)); // 8 steps left at 0.2 s a step: about 2 s
      progress.onStep!(event(22));
    } finally {
      progress.stop(); // renders the last state, and ends the redraw timer that would keep the test alive
    }
    assert.match(text, /22\/30 steps .* ETA [1-9]\d*s/);
  });

  it('counts the steps of a resumed run from where it resumed', () => {
    const result = { finalDir: 'final', lastLoss: 0.25, seconds: 12 };
    assert.equal(trainedSummary({ ...result, startStep: 20, steps: 30 }), 'trained 10 steps (resumed at step 20, now at 30) in 12 s, final loss 0.2500');
    assert.equal(trainedSummary({ ...result, startStep: 0, steps: 30 }), 'trained 30 steps in 12 s, final loss 0.2500');
  });
});
