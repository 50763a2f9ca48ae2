import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BlipTokenizer, CLS_ID, DEC_ID, ENC_ID, SEP_ID, defaultVocabPath } from '../../src/data/index.js';

const tok = new BlipTokenizer();
const vocab = readFileSync(defaultVocabPath(), 'utf8').split('\n');
const idOf = (word: string) => vocab.indexOf(word);

test('the example from the issue', () => {
  assert.deepEqual(tok.encodeOne('a picture of a dog'), [101, 1037, 3861, 1997, 1037, 3899, 102]);
});

test('whole words map to their line in vocab.txt (line n is id n-1)', () => {
  for (const sentence of ['the red circle is left of a blue square', 'two small green triangles above the star', 'how many objects are there']) {
    const expected = [CLS_ID, ...sentence.split(' ').map(idOf), SEP_ID];
    assert.ok(expected.every((id) => id >= 0), sentence);
    assert.deepEqual(tok.encodeOne(sentence), expected, sentence);
  }
});

test('lower-cases, strips accents, splits punctuation and unknown words into word pieces', () => {
  assert.deepEqual(tok.tokenize('A Café, unbelievably!'), ['a', 'cafe', ',', 'un', '##bel', '##ie', '##va', '##bly', '!']);
  assert.deepEqual(tok.encodeOne('Hello, World!'), [101, idOf('hello'), idOf(','), idOf('world'), idOf('!'), 102]);
});

test('[DEC] and [ENC] are 30522 and 30523 and round-trip', () => {
  assert.equal(tok.tokenToId('[DEC]'), DEC_ID);
  assert.equal(tok.tokenToId('[ENC]'), ENC_ID);
  assert.equal(tok.decode([DEC_ID, 1037, 3899, SEP_ID, 0, 0]), 'a dog');
});

test('padding, truncation and masks', () => {
  const enc = tok.encodeBatch(['a picture of a dog', 'hi'], { maxLength: 5, firstToken: 'dec' });
  assert.equal(enc.length, 5);
  assert.deepEqual([...enc.ids], [DEC_ID, 1037, 3861, 1997, SEP_ID, DEC_ID, idOf('hi'), SEP_ID, 0, 0]);
  assert.deepEqual([...enc.mask], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  const fixed = tok.encodeBatch(['hi'], { maxLength: 8, padding: 'max_length', firstToken: 'enc' });
  assert.deepEqual([...fixed.ids], [ENC_ID, idOf('hi'), SEP_ID, 0, 0, 0, 0, 0]);
  const longest = tok.encodeBatch(['hi', 'a dog'], { maxLength: 30 });
  assert.equal(longest.length, 4);
});
