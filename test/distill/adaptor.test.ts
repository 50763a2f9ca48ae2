import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { AdaptorSet, LayerAdaptors } from '../../src/distill/adaptor.js';
import { Module } from '../../src/nn/module.js';
import { initParameters } from '../../src/nn/init.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { TensorToWrite } from '../../src/io/safetensors.js';
import { applyWeights } from '../../src/io/weights.js';
import { maxDiff } from './helpers.js';

before(async () => {
  await initBackend('cpu');
});

/** A student-side module that owns the adaptors, as a distillation run would. */
class Holder extends Module {
  readonly adaptors: AdaptorSet;
  constructor() {
    super();
    this.adaptors = this.child(
      'adaptors',
      new AdaptorSet({
        vision: new LayerAdaptors([[3, 9], [1, 3]], 4, 6),
        text: new LayerAdaptors([[2, 4]], 5, 5),
      }),
    );
  }
}

function values(m: Module): Map<string, Float32Array> {
  return new Map([...m.namedParameters()].map(([name, p]) => [name, p.value.dataSync() as Float32Array]));
}

describe('adaptors', () => {
  it('are named by tower and student layer, with none where the widths match', () => {
    const holder = new Holder();
    const shapes = Object.fromEntries([...holder.namedParameters()].map(([name, p]) => [name, p.shape]));
    assert.deepEqual(shapes, {
      'adaptors.vision.3.weight': [6, 4],
      'adaptors.vision.3.bias': [6],
      'adaptors.vision.1.weight': [6, 4],
      'adaptors.vision.1.bias': [6],
    });
  });

  it('map student states to the teacher width, and pass them through when widths match', () => {
    const holder = new Holder();
    initParameters(holder, 1);
    tf.tidy(() => {
      const { vision, text } = holder.adaptors.towers as { vision: LayerAdaptors; text: LayerAdaptors };
      const x = tf.ones([2, 3, 4]);
      const y = vision.forward(3, x);
      assert.deepEqual(y.shape, [2, 3, 6]);
      // ones·Wᵀ + 0 = the row sums of W (bias initialised to zeros).
      const w = holder.namedParameters().get('adaptors.vision.3.weight')!.value;
      assert.ok(maxDiff(y.slice([0, 0, 0], [1, 1, 6]).reshape([6]), tf.sum(w, 1)) < 1e-6);
      const same = tf.ones([2, 3, 5]);
      assert.equal(text.forward(2, same), same);
      assert.throws(() => vision.forward(2, x), /student layer 2 is not mapped \(mapped: 3, 1\)/);
      assert.throws(() => vision.forward(3, tf.ones([2, 3, 5])), /states \[2,3,5\] do not end in the student width 4/);
      assert.throws(() => new LayerAdaptors([[1, 1], [1, 2]], 4, 6), /student layer 1 is mapped more than once/);
    });
    holder.dispose();
  });

  it('initialise from the seed, reproducibly', () => {
    const [a, b, c] = [new Holder(), new Holder(), new Holder()];
    initParameters(a, 7);
    initParameters(b, 7);
    initParameters(c, 8);
    const [va, vb, vc] = [values(a), values(b), values(c)];
    for (const [name, data] of va) assert.deepEqual(data, vb.get(name), name);
    assert.notDeepEqual(va.get('adaptors.vision.3.weight'), vc.get('adaptors.vision.3.weight'));
    assert.ok(va.get('adaptors.vision.1.bias')!.every((v) => v === 0), 'biases start at 0');
    [a, b, c].forEach((m) => m.dispose());
  });

  it('save and load through safetensors like any module', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlip-adaptors-'));
    try {
      const saved = new Holder();
      initParameters(saved, 3);
      const tensors = new Map<string, TensorToWrite>([...values(saved)].map(([name, data]) => [name, { shape: [...saved.namedParameters().get(name)!.shape], data }]));
      await writeSafetensors(join(dir, 'adaptors.safetensors'), tensors);
      const loaded = new Holder();
      const report = applyWeights(loaded, await readSafetensors(join(dir, 'adaptors.safetensors')));
      assert.equal(report.loaded.length, 4);
      const original = values(saved);
      for (const [name, data] of values(loaded)) assert.deepEqual(data, original.get(name), name);
      saved.dispose();
      loaded.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
