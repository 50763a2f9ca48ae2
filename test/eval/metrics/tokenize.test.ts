import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captionTokens, evaluateCaptions, tokenizeCaption } from '../../../src/eval/metrics/index.js';

test('lower-cases and drops the punctuation PTBTokenizer output loses in pycocoevalcap', () => {
  assert.deepEqual(captionTokens('A dog, running.'), ['a', 'dog', 'running']);
  assert.deepEqual(captionTokens('"Quoted" word... -- ok?!'), ['quoted', 'word', 'ok']);
  assert.deepEqual(captionTokens('a man (left) and a woman'), ['a', 'man', 'left', 'and', 'a', 'woman']);
  assert.deepEqual(captionTokens('  spaced\tout\n'), ['spaced', 'out']);
});

test('keeps inner hyphens and decimal points', () => {
  assert.deepEqual(captionTokens('a black-and-white photo of 3.5 cats.'), ['a', 'black-and-white', 'photo', 'of', '3.5', 'cats']);
});

test('splits clitics as PTB does', () => {
  assert.deepEqual(captionTokens("A man's hat"), ['a', 'man', "'s", 'hat']);
  assert.deepEqual(captionTokens("Don't"), ['do', "n't"]);
  assert.deepEqual(captionTokens("can't."), ['ca', "n't"]);
  assert.deepEqual(captionTokens("they're here"), ['they', "'re", 'here']);
  assert.deepEqual(captionTokens("the dog 's bone"), ['the', 'dog', "'s", 'bone']);
  // A possessive apostrophe alone is punctuation; o'clock is one word.
  assert.deepEqual(captionTokens("the dogs' bowl at 5 o'clock"), ['the', 'dogs', 'bowl', 'at', '5', "o'clock"]);
});

test('tokenizeCaption joins tokens with single spaces', () => {
  assert.equal(tokenizeCaption('Two  Cats, sleeping!'), 'two cats sleeping');
  assert.equal(tokenizeCaption('...'), '');
});

test('evaluateCaptions tokenises, then reports BLEU and CIDEr-D ×100', () => {
  // Punctuation and case vanish, so each candidate equals its one reference.
  // BLEU: correct = guess = [5, 3, 1, 0] → BLEU-1..3 = 100; BLEU-4 = 100·(1 · 1e-15/1e-9)^(1/4) = 3.1623.
  // CIDEr-D (N = 2, no shared n-gram): image a (3 words) [1, 1, 1, 0] → 7.5; image b (2 words)
  // [1, 1, 0, 0] → 5; mean 6.25 → 625.
  const r = evaluateCaptions({ a: 'Black cat sits.', b: 'A dog!' }, { a: ['black cat sits'], b: ['a, dog'] });
  assert.ok(Math.abs(r.bleu[0] - 100) < 1e-6);
  assert.ok(Math.abs(r.bleu[2] - 100) < 1e-6);
  assert.ok(Math.abs(r.bleu[3] - 100 * Math.pow(1e-6, 1 / 4)) < 1e-6);
  assert.ok(Math.abs(r.cider - 625) < 1e-9);
});
