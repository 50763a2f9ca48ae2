import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ciderD } from '../../../src/eval/metrics/index.js';

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);
}

test('CIDEr-D on a two-image corpus, by hand', () => {
  // N = 2 images, so idf = log 2 - log(max(1, df)); write L = log 2.
  // Document frequencies (once per image's reference set, not per reference):
  //   "black" is in both images' references → df 2 → weight L - log 2 = 0.
  //   Every other n-gram ("cat" is in both of A's references but still has df 1) → weight tf·L.
  // Image A, candidate "black cat sits" (2 bigrams), references "black cat sits" and "black cat sleeps"
  // (2 bigrams each: no length penalty).
  //   vs "black cat sits": n=1: (0 + L² + L²) / (√2L · √2L) = 1; n=2: 2L² / 2L² = 1; n=3: 1;
  //     n=4: no 4-grams, 0.                                                  → [1, 1, 1, 0]
  //   vs "black cat sleeps": n=1: only "cat" shared: L² / 2L² = 1/2; n=2: "black cat": 1/2;
  //     n=3: 0; n=4: 0.                                                      → [1/2, 1/2, 0, 0]
  //   sum over references [3/2, 3/2, 1, 0]; mean over n = 1; / 2 references; ×10 → 5.
  // Image B, candidate "black dog" (1 bigram), reference "black dog runs" (2 bigrams): delta = -1,
  //   penalty e^(-1/72). n=1: "dog": L² / (L · √2L) = 1/√2; n=2: "black dog": 1/√2; n=3, n=4: 0.
  //   mean over n = (2/√2)/4 = √2/4; ×10 → 2.5·√2·e^(-1/72) = 3.535534 · 0.986207 = 3.486769.
  // Corpus: (5 + 3.486769) / 2 = 4.243384.
  const r = ciderD(
    { A: 'black cat sits', B: 'black dog' },
    { A: ['black cat sits', 'black cat sleeps'], B: ['black dog runs'] },
  );
  const b = 2.5 * Math.SQRT2 * Math.exp(-1 / 72);
  close(r.perImage.get('A')!, 5);
  close(r.perImage.get('B')!, b);
  close(r.score, (5 + b) / 2);
  close(r.score, 4.243384, 1e-6);
});

test('clipping: repeating a reference n-gram earns nothing more', () => {
  // N = 2, all df 1 → weights tf·L. Image A: candidate "dog dog" vs reference "dog runs", both 1 bigram.
  //   n=1: candidate dog = 2L (norm 2L); reference dog = L, runs = L (norm √2L).
  //        clipped: min(2L, L)·L = L² → L² / (2L · √2L) = 1/(2√2). (Unclipped it would be 1/√2.)
  //   n=2: "dog dog" is in no reference set (df 0 → idf log 2) but not in this reference: 0.
  //   → 10 · (1/(2√2)) / 4 = 0.883883.
  // Image B: candidate = reference "cat sits": [1, 1, 0, 0] → 10 · 2/4 = 5.
  const r = ciderD({ A: 'dog dog', B: 'cat sits' }, { A: ['dog runs'], B: ['cat sits'] });
  close(r.perImage.get('A')!, 10 / (8 * Math.SQRT2));
  close(r.perImage.get('B')!, 5);
  close(r.score, (10 / (8 * Math.SQRT2) + 5) / 2);
});

test('Gaussian length penalty on the length difference, σ = 6', () => {
  // Three images, so that no n-gram of image A is shared: weights tf·log 3 everywhere in A.
  // Candidate "a b c d e f g h" (7 bigrams) vs reference "a b" (1 bigram): delta = 6 → e^(-36/72).
  //   n=1: 2 shared unigrams: 2L² / (√8L · √2L) = 1/2; n=2: "a b": L² / (√7L · L) = 1/√7; n=3,4: 0.
  //   → 10 · (1/2 + 1/√7) / 4 · e^(-1/2).
  const r = ciderD({ A: 'a b c d e f g h', B: 'x', C: 'y' }, { A: ['a b'], B: ['x'], C: ['y'] });
  close(r.perImage.get('A')!, (10 * (0.5 + 1 / Math.sqrt(7))) / 4 * Math.exp(-0.5));
});

test('a one-image corpus scores 0 even for a perfect caption (idf = log 1 = 0)', () => {
  const r = ciderD({ only: 'a cat on a mat' }, { only: ['a cat on a mat', 'a cat sits'] });
  assert.equal(r.score, 0);
  assert.equal(r.perImage.get('only'), 0);
});

test('scale multiplies the corpus and per-image scores', () => {
  const r = ciderD({ A: 'dog dog', B: 'cat sits' }, { A: ['dog runs'], B: ['cat sits'] }, { scale: 100 });
  close(r.perImage.get('B')!, 500);
  close(r.score, ((10 / (8 * Math.SQRT2) + 5) / 2) * 100);
});

test('a candidate without references names its image', () => {
  assert.throws(() => ciderD({ A: 'x', B: 'y' }, { A: ['x'] }), /candidate for image "B" has no references/);
});
