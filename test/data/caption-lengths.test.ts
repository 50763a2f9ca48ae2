// Generation lengths a data set states for itself, counted as BLIP counts (whole sequence).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTokenizer, fitGenerationLengths, openDataset, preCaption, synthesizeWorld } from '../../src/data/index.js';

test('lengths fit the longest and shortest caption after [DEC] + prompt, worked by hand', () => {
  // "a red circle": 3 WordPieces; "Two blue squares on a grey background." cleans to 7. [DEC] + "a
  // picture of " is 4 tokens, so: max 4 + 7 + [SEP] = 12, min 4 + 3 = 7.
  const lengths = fitGenerationLengths(['a red circle', 'Two blue squares on a grey background.'], defaultTokenizer());
  assert.deepEqual(lengths, { maxLength: 12, minLength: 7 });
  // Without a prompt only [DEC] precedes the caption.
  assert.deepEqual(fitGenerationLengths(['a red circle'], defaultTokenizer(), 30, ''), { maxLength: 5, minLength: 4 });
  assert.throws(() => fitGenerationLengths([], defaultTokenizer()), /no captions/);
});

test("the built-in world states lengths derived from its training captions", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dlip-lengths-'));
  await synthesizeWorld({ out: dir, sizes: { train: 6, val: 1, test: 1 }, seed: 2 });
  const manifest = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
  const tokenizer = defaultTokenizer();
  const counts = openDataset(dir).captions('train').images.flatMap((i) => i.captions).map((c) => tokenizer.tokenize(preCaption(c, 30)).length);
  assert.deepEqual(manifest.generation, { maxLength: 4 + Math.max(...counts) + 1, minLength: 4 + Math.min(...counts) });
  // The longest caption needs more than BLIP's 20 (which leaves 15 caption tokens after [DEC] + prompt),
  // so stating lengths matters for this world.
  assert.ok(manifest.generation.maxLength > 20, `BLIP's 20 would fit these captions (longest ${Math.max(...counts)} tokens)`);
  assert.equal(manifest.retrievalK, 16);
});
