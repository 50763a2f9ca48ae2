import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LayerMapSpecSchema, layerMap } from '../../src/distill/layer-map.js';

describe('layerMap', () => {
  it('uniform: student i ↔ teacher ⌈i·Lt/Ls⌉', () => {
    // 4 → 12: ⌈3⌉, ⌈6⌉, ⌈9⌉, ⌈12⌉.
    assert.deepEqual(layerMap('uniform', 4, 12), [[1, 3], [2, 6], [3, 9], [4, 12]]);
    // 3 → 4: ⌈1.33⌉ = 2, ⌈2.67⌉ = 3, ⌈4⌉ = 4.
    assert.deepEqual(layerMap('uniform', 3, 4), [[1, 2], [2, 3], [3, 4]]);
    // 6 → 12: every second teacher layer.
    assert.deepEqual(layerMap('uniform', 6, 12), [[1, 2], [2, 4], [3, 6], [4, 8], [5, 10], [6, 12]]);
    // A deeper student shares teacher layers: 4 → 2: ⌈0.5⌉ = 1, ⌈1⌉ = 1, ⌈1.5⌉ = 2, ⌈2⌉ = 2.
    assert.deepEqual(layerMap('uniform', 4, 2), [[1, 1], [2, 1], [3, 2], [4, 2]]);
  });

  it('last: only the last layers', () => {
    assert.deepEqual(layerMap('last', 4, 12), [[4, 12]]);
  });

  it('explicit pairs are kept, and each bad pair is named', () => {
    assert.deepEqual(layerMap([[2, 6], [4, 12]], 4, 12), [[2, 6], [4, 12]]);
    assert.throws(() => layerMap([[1, 3], [5, 12]], 4, 12), /layer map pair \[5, 12\]: student layer 5 is outside 1..4/);
    assert.throws(() => layerMap([[0, 3]], 4, 12), /layer map pair \[0, 3\]: student layer 0 is outside 1..4/);
    assert.throws(() => layerMap([[1, 13]], 4, 12), /layer map pair \[1, 13\]: teacher layer 13 is outside 1..12/);
    assert.throws(() => layerMap([[2, 3], [2, 6]], 4, 12), /layer map pair \[2, 6\]: student layer 2 is mapped more than once/);
    assert.throws(() => layerMap([], 4, 12), /list of \[student, teacher\] pairs is empty/);
    assert.throws(() => layerMap('uniform', 0, 12), /the student must have a positive whole number of layers, got 0/);
  });

  it('parses a spec with zod', () => {
    assert.equal(LayerMapSpecSchema.parse('uniform'), 'uniform');
    assert.equal(LayerMapSpecSchema.parse('last'), 'last');
    assert.deepEqual(LayerMapSpecSchema.parse([[1, 3], [2, 6]]), [[1, 3], [2, 6]]);
    for (const bad of ['first', [[1, 2, 3]], [[1.5, 2]], [], [['1', 2]]]) assert.equal(LayerMapSpecSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });
});
