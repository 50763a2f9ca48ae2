// Small assertions shared by the distillation tests.
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/backend.js';

export function scalarOf(t: tf.Tensor): number {
  return t.dataSync()[0]!;
}

export function assertClose(actual: number, expected: number, tolerance: number, what = 'value'): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);
}

export function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/**
 * A loss leaves exactly its result behind (nothing leaked from inside it), and nothing at all when
 * called inside tf.tidy.
 */
export function assertNoLeak(loss: () => tf.Tensor): void {
  const before = tf.memory().numTensors;
  const out = loss();
  assert.equal(tf.memory().numTensors, before + 1, 'the loss leaves only its result');
  out.dispose();
  tf.tidy(() => {
    loss();
  });
  assert.equal(tf.memory().numTensors, before, 'nothing survives a tidy');
}
