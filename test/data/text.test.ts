import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preCaption, preQuestion, swapLeftRight } from '../../src/data/index.js';

test('preCaption follows BLIP pre_caption', () => {
  assert.equal(preCaption('  A Man (riding) a horse!!  on the beach.  '), 'a man riding a horse on the beach');
  assert.equal(preCaption("It's a dog's-life: #1"), "it's a dog's-life 1");
  assert.equal(preCaption('one two three four', 2), 'one two');
  // Whitespace as Python's re sees it: \x1c and \x85 runs collapse, \ufeff runs do not.
  assert.equal(preCaption('a\x1c\x1cb c\x85\x85d'), 'a b c d');
  assert.equal(preCaption('a\ufeff\ufeffb'), 'a\ufeff\ufeffb');
});

test('preQuestion follows BLIP pre_question (punctuation deleted, not spaced)', () => {
  assert.equal(preQuestion('What color is the (big) car?'), 'what color is the big car?');
  assert.equal(preQuestion('Is it red...  '), 'is it red');
});

test('swapLeftRight swaps whole words only, keeping case', () => {
  assert.equal(swapLeftRight('a circle to the left of a square, Right side'), 'a circle to the right of a square, Left side');
  assert.equal(swapLeftRight('bright leftover'), 'bright leftover');
});
