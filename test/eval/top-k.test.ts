// The searches' one-pass scoring (src/eval/top-k.ts) against the straightforward computation it
// replaces: write each row's log-softmax out in double precision, apply the processed entries, add
// the beam's score, sort every (value, beams × vocab index) pair and keep the first k. Rows are
// random with many ties and -Infinity entries (each keeps one finite entry: an all -Infinity row has
// no log-softmax).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { loadAddon } from '../../src/engine/native/addon.js';
import { logSumExp, offerRow, scoreRows, TopK } from '../../src/eval/top-k.js';

/** Deterministic [0, 1) numbers (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A row drawn from a few values (ties), some -Infinity, some continuous; one random entry is finite. */
function randomRow(rand: () => number, vocab: number): Float32Array {
  const row = Float32Array.from({ length: vocab }, () => {
    const u = rand();
    if (u < 0.2) return -Infinity;
    if (u < 0.7) return Math.floor(rand() * 4) - 2;
    return (rand() - 0.5) * 10;
  });
  row[Math.floor(rand() * vocab)] = Math.floor(rand() * 4) - 2;
  return row;
}

function referenceLogSumExp(row: Float32Array): number {
  const max = Math.max(...row);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  return max + Math.log(sum);
}

/** The k best (value desc, index asc) candidates of several beams, computed the long way. */
function referenceTop(rows: Float32Array[], bases: number[], processed: Map<number, number>[], k: number) {
  const all: { value: number; index: number }[] = [];
  rows.forEach((row, j) => {
    const lse = referenceLogSumExp(row);
    const scores = Float64Array.from(row, (x) => x - lse);
    for (const [v, value] of processed[j]!) scores[v] = value;
    scores.forEach((s, v) => all.push({ value: s + bases[j]!, index: j * row.length + v }));
  });
  all.sort((a, b) => (a.value === b.value ? a.index - b.index : a.value > b.value ? -1 : 1));
  return all.slice(0, k);
}

describe('one-pass log-softmax and top-k', () => {
  it('logSumExp equals the two-pass sum bit for bit, and is -Infinity for an all -Infinity row', () => {
    const rand = random(1);
    for (let i = 0; i < 20; i++) {
      const row = randomRow(rand, 1 + Math.floor(rand() * 50));
      assert.equal(logSumExp(row), referenceLogSumExp(row));
    }
    assert.equal(logSumExp(Float32Array.of(-Infinity, -Infinity)), -Infinity);
  });

  it('offerRow over several beams keeps exactly the candidates a full sort ranks first', () => {
    const rand = random(7);
    for (let trial = 0; trial < 300; trial++) {
      const vocab = 1 + Math.floor(rand() * 40);
      const beams = 1 + Math.floor(rand() * 4);
      const k = 1 + Math.floor(rand() * 8);
      const rows = Array.from({ length: beams }, () => randomRow(rand, vocab));
      // Running scores: equal ones (ties across beams), ordinary ones, and HF's −1e9 start.
      const bases = rows.map(() => [0, -1, -2.5, -1e9][Math.floor(rand() * 4)]!);
      // A repetition penalty on a few tokens and sometimes a blocked EOS (token 0), as the search makes them.
      const processed = rows.map((row) => {
        const lse = logSumExp(row);
        const map = new Map<number, number>();
        for (let n = Math.floor(rand() * 3); n > 0; n--) {
          const v = Math.floor(rand() * vocab);
          const lp = row[v]! - lse;
          map.set(v, lp < 0 ? lp * 1.3 : lp / 1.3);
        }
        if (rand() < 0.3) map.set(0, -Infinity);
        return map;
      });
      const top = new TopK(k);
      rows.forEach((row, j) => offerRow(top, row, logSumExp(row), bases[j]!, j * vocab, processed[j]!));
      const expected = referenceTop(rows, bases, processed, k);
      const where = `trial ${trial} (vocab ${vocab}, ${beams} beams, k ${k})`;
      assert.deepEqual(top.indices, expected.map((c) => c.index), where);
      assert.deepEqual(top.values, expected.map((c) => c.value), where);
    }
  });

  it('TopK ranks equal values by index whatever the order they are offered in, and never keeps NaN', () => {
    const top = new TopK(3);
    for (const [value, index] of [[1, 9], [2, 5], [1, 4], [NaN, 0], [1, 7], [2, 8]] as const) top.offer(value, index);
    assert.deepEqual(top.indices, [5, 8, 4]);
    assert.deepEqual(top.values, [2, 2, 1]);
  });
});

describe('scoreRows on the native backend', { skip: loadAddon().ok ? false : 'native addon unavailable' }, () => {
  it('ranks the candidates of several beams as the one-pass scan does, scores within 1e-6, NaN never kept', async () => {
    await initBackend('native');
    const rand = random(11);
    for (let trial = 0; trial < 200; trial++) {
      const vocab = 1 + Math.floor(rand() * 60);
      const beams = 1 + Math.floor(rand() * 4);
      const k = 1 + Math.floor(rand() * 6);
      const data = new Float32Array(beams * vocab);
      for (let j = 0; j < beams; j++) {
        data.set(randomRow(rand, vocab), j * vocab);
        if (rand() < 0.2) data[j * vocab + Math.floor(rand() * vocab)] = NaN;
      }
      const bases = Array.from({ length: beams }, () => [0, -1, -2.5][Math.floor(rand() * 3)]!);
      const processed = Array.from({ length: beams }, () => (rand() < 0.4 ? new Map([[Math.floor(rand() * vocab), -0.5]]) : new Map<number, number>()));
      const scores = scoreRows(data, vocab, k, 1);
      const native = new TopK(k);
      const scan = new TopK(k);
      for (let j = 0; j < beams; j++) {
        const row = data.subarray(j * vocab, (j + 1) * vocab);
        if (row.some((x) => Number.isNaN(x))) continue; // the scan's log-sum-exp of a NaN row is NaN: nothing to compare
        const lse = logSumExp(row);
        assert.ok(Math.abs(scores.lse(j) - lse) <= 1e-6 * Math.max(1, Math.abs(lse)), `trial ${trial} row ${j}: lse ${scores.lse(j)} vs ${lse}`);
        scores.offer(native, j, bases[j]!, j * vocab, processed[j]!);
        offerRow(scan, row, lse, bases[j]!, j * vocab, processed[j]!);
      }
      const where = `trial ${trial} (vocab ${vocab}, ${beams} beams, k ${k})`;
      assert.deepEqual(native.indices, scan.indices, where);
      native.values.forEach((v, i) => assert.ok(v === scan.values[i] || Math.abs(v - scan.values[i]!) < 1e-6, `${where}: value ${v} vs ${scan.values[i]}`));
    }
    tf.setBackend('cpu');
  });
});
