// Latency measurement: models alternate, and timing starts only after the warm-up (at least `warmup`
// calls and `warmupMs` of them), so a cold first call does not count.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/engine/backend.js';
import { openDataset } from '../../src/data/manifest.js';
import { builtinWorld } from '../../src/data/world/synth.js';
import type { Dataset } from '../../src/data/manifest.js';
import { measureLatency } from '../../src/eval/latency.js';
import { tinyConfig } from '../helpers/tiny.js';

describe('measureLatency', () => {
  let dataset: Dataset;
  before(async () => {
    await initBackend('cpu');
    dataset = openDataset(await builtinWorld('tiny', 0));
  });

  const models = () => ({ a: tinyConfig({ vocab: 30524, positions: 40, imageSize: 16 }), b: tinyConfig({ vocab: 30524, positions: 40, imageSize: 16 }) });

  it('warms up for the number of calls asked when no warm-up time is set', () => {
    const [row] = measureLatency(models(), dataset, { workloads: ['image'], batches: [2], repeats: 3, warmup: 4, warmupMs: 0 });
    assert.equal(row!.warmupCalls, 4);
    assert.deepEqual(Object.keys(row!.ms), ['a', 'b']);
    for (const ms of Object.values(row!.ms)) assert.ok(ms > 0 && Number.isFinite(ms));
    assert.deepEqual(row!.leaks, {});
  });

  it('keeps warming up until each model has spent warmupMs in calls', () => {
    const [row] = measureLatency(models(), dataset, { workloads: ['image'], batches: [1], repeats: 1, warmup: 1, warmupMs: 200 });
    // A call of this tiny model takes milliseconds, so 200 ms of them is far more than the one call asked.
    assert.ok(row!.warmupCalls > 1, `${row!.warmupCalls} warm-up calls; the timed call took ${JSON.stringify(row!.ms)} ms`);
  });
});
