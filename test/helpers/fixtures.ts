// Access to test/fixtures/hf-blip-tiny (a copy of the project's shared fixture set): the Hugging Face reference weights and outputs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/backend.js';
import { packageRoot } from '../../src/paths.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { LoadedTensor } from '../../src/io/safetensors.js';
import { parseBlipConfig } from '../../src/models/config.js';
import type { BlipConfig } from '../../src/models/config.js';

export const FIXTURE_DIR = process.env.DLIP_FIXTURES ?? join(packageRoot, 'test', 'fixtures', 'hf-blip-tiny');

export type FixtureTask = 'retrieval' | 'captioning' | 'vqa';
export const WEIGHT_SETS = ['', '_large'] as const;

export function fixtureConfig(task: FixtureTask): BlipConfig {
  const path = join(FIXTURE_DIR, `${task}_config.json`);
  return parseBlipConfig(JSON.parse(readFileSync(path, 'utf8')), path);
}

export async function fixtureWeights(task: FixtureTask, set: string): Promise<Map<string, LoadedTensor>> {
  return readSafetensors(join(FIXTURE_DIR, `${task}${set}_weights.safetensors`));
}

export async function fixtureOutputs(task: FixtureTask, set: string): Promise<Map<string, LoadedTensor>> {
  return readSafetensors(join(FIXTURE_DIR, `${task}${set}_outputs.safetensors`));
}

/** A stored tensor as a tfjs tensor (I64 inputs become int32). */
export function toTensor(t: LoadedTensor | undefined, name = '?'): tf.Tensor {
  if (!t) throw new Error(`fixture tensor ${name} missing`);
  if (t.dtype === 'I64') return tf.tensor(Int32Array.from(t.data, Number), t.shape, 'int32');
  return tf.tensor(t.data, t.shape, 'float32');
}

/** Asserts same shape and max |actual − expected| ≤ tol, naming the tensor. */
export function assertClose(actual: tf.Tensor, expected: LoadedTensor | undefined, name: string, tol = 1e-5): number {
  assert.ok(expected, `reference ${name} missing from fixture`);
  assert.deepEqual(actual.shape, expected.shape, `${name}: shape`);
  const a = actual.dataSync();
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - Number(expected.data[i])));
  assert.ok(worst <= tol, `${name}: max |diff| ${worst.toExponential(2)} > ${tol}`);
  return worst;
}
