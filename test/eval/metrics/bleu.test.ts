import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bleu, closestRefLength } from '../../../src/eval/metrics/index.js';

// The official 1e-15 / 1e-9 offsets move results by ~1e-10 relative to the exact fractions.
function close(actual: number, expected: number, tol = 1e-8): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);
}

test('corpus BLEU with several references and a brevity penalty, by hand', () => {
  // Image a: candidate "a dog runs on grass" (5 words); references of 7 and 8 words → closest 7.
  //   1-grams a dog runs on grass: all in ref 1 → 5/5
  //   2-grams "a dog" "dog runs" "runs on" match ref 1, "on grass" matches neither → 3/4
  //   3-grams "a dog runs" "dog runs on" match, "runs on grass" not → 2/3
  //   4-grams "a dog runs on" matches, "dog runs on grass" not → 1/2
  // Image b: candidate "two cats sleep" (3 words); references of 6 and 4 words → closest 4.
  //   1-grams 3/3, 2-grams 2/2, 3-grams 1/1, 4-grams 0/0 (a 3-word caption has no 4-gram).
  // Corpus: correct [8, 5, 3, 1], guess [8, 6, 4, 2]; c = 8, r = 7 + 4 = 11.
  // BP = exp(1 - 11/8) = exp(-0.375) = 0.687289...
  // BLEU-1 = 1·BP = 0.687289; BLEU-2 = (5/6)^(1/2)·BP = 0.627406; BLEU-3 = (5/8)^(1/3)·BP = 0.587624;
  // BLEU-4 = (5/6 · 3/4 · 1/2)^(1/4)·BP = (5/16)^(1/4)·BP = 0.747674 · 0.687289 = 0.513869.
  const r = bleu(
    { a: 'a dog runs on grass', b: 'two cats sleep' },
    {
      a: ['a dog runs on the green grass', 'the brown dog is running on the grass'],
      b: ['two cats sleep on a sofa', 'two cats are sleeping'],
    },
  );
  const bp = Math.exp(1 - 11 / 8);
  assert.equal(r.testLength, 8);
  assert.equal(r.refLength, 11);
  close(r.bleu[0], bp);
  close(r.bleu[1], Math.sqrt(5 / 6) * bp);
  close(r.bleu[2], Math.cbrt(5 / 8) * bp);
  close(r.bleu[3], Math.pow(5 / 16, 1 / 4) * bp);
  close(r.bleu4, 0.5138686, 1e-6);
  close(bleu({ a: 'a dog runs on grass' }, { a: ['a dog runs on grass'] }, { scale: 100 }).bleu4, 100);
});

test('matches are clipped at the largest count in any one reference', () => {
  // "the" ×3 in the candidate; ref 1 has it twice, ref 2 once → 2 of 3 unigrams count.
  // Lengths: candidate 3; references 5 and 2 → |5-3| = 2, |2-3| = 1 → 2, no brevity penalty.
  const r = bleu({ x: 'the the the' }, { x: ['the cat on the mat', 'the dog'] });
  assert.equal(r.refLength, 2);
  close(r.bleu[0], 2 / 3);
});

test('two equally close references: the shorter one is the reference length', () => {
  assert.equal(closestRefLength(5, [6, 4]), 4);
  assert.equal(closestRefLength(5, [4, 6]), 4);
  assert.equal(closestRefLength(5, [9, 5, 4]), 5);
  // Candidate of 5 words, references of 4 and 6: r = 4 → ratio 5/4 ≥ 1 → no penalty, so a perfect
  // unigram match gives BLEU-1 = 1 (with r = 6 it would be exp(1 - 6/5) = 0.8187).
  const r = bleu({ x: 'a b c d e' }, { x: ['a b c d e f', 'a b c d'] });
  assert.equal(r.refLength, 4);
  close(r.bleu[0], 1);
});

test('no matching 4-gram gives a tiny BLEU-4, not zero, because of the 1e-15 offset', () => {
  // correct [2, 0, 0, 0], guess [2, 1, 0, 0]: the bigram ratio is 1e-15 / 1, the 3- and 4-gram
  // ratios 1e-15 / 1e-9 = 1e-6, so BLEU-4 = (1e-27)^(1/4) = 1.78e-7.
  const r = bleu({ x: 'b a' }, { x: ['a b'] });
  const expected = Math.pow((2 / 2) * (1e-15 / 1) * 1e-6 * 1e-6, 1 / 4);
  close(r.bleu[3], expected, 1e-6);
  assert.ok(r.bleu[3] > 0);
});

test('an empty candidate scores 0 through the brevity penalty', () => {
  assert.equal(bleu({ x: '' }, { x: ['a b'] }).bleu4, 0);
});

test('mismatched corpora name the image', () => {
  assert.throws(() => bleu({ a: 'x', b: 'y' }, { a: ['x'] }), /candidate for image "b" has no references/);
  assert.throws(() => bleu({ a: 'x' }, { a: ['x'], c: ['z'] }), /image "c" has references but no candidate/);
  assert.throws(() => bleu({ a: 'x' }, { a: [] }), /image "a" has an empty reference list/);
  assert.throws(() => bleu({}, {}), /corpus is empty/);
});
