// `dlip data check` as a user runs it: every problem of a data set in one pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';
import { dataDir, manifest } from '../data/helpers.js';

function dlip(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('dlip data check', () => {
  it('lists annotation and decoding problems together, with libvips\'s reason, and fails', () => {
    const dir = dataDir({ 'cat.jpg': 'cat.jpg', 'coffee.png': 'coffee.png', 'short.jpg': 'truncated:cat.jpg' }, {
      'train.json': [
        { image: 'cat.jpg', caption: 'a cat' },
        { image: 'coffee.png', caption: 42 },
        { image: 'short.jpg', caption: 'a cat cut short' },
        { image: 'gone.jpg', caption: 'nothing there' },
      ],
      'test.json': [{ image: 'cat.jpg', caption: ['a cat'] }],
      'dataset.json': manifest({ train: { captions: 'train.json' }, test: { captions: 'test.json' } }),
    });
    const { code, out, err } = dlip(['data', 'check', dir]);
    assert.equal(code, 1, err);
    assert.match(out, /^train captions: 2 images, 2 captions; 1 of 2 images decode$/m);
    assert.match(out, /^test captions: 1 images, 1 captions; 1 of 1 images decode$/m);
    assert.match(out, /^bad sample: .*train\.json: record 1: field "caption"/m);
    assert.match(out, /^bad sample: .*train\.json: record 3: image file not found: .*gone\.jpg$/m);
    assert.match(out, /^bad sample: .*train\.json: record 2: cannot decode image .*short\.jpg: VipsJpeg: premature end of JPEG image$/m);
    assert.match(out, /^warning: captions splits "train" and "test" share 1 images \(e\.g\. .*cat\.jpg\)$/m);
    assert.match(err, /^dlip: .*: 3 bad samples \(listed above\)\n$/);
    // With skip the same report, and success.
    const skip = dlip(['data', 'check', dir, '--on-bad-sample', 'skip']);
    assert.equal(skip.code, 0, skip.err);
    assert.equal(skip.out, out);
  });

  it('reads a Flickr8k captions.txt as it is published, and says in one line when the image folder is wrong', () => {
    const dir = dataDir({ 'Images/cat.jpg': 'cat.jpg' }, { 'captions.txt': 'image,caption\ncat.jpg,"A cat, sitting ."\ncat.jpg,A cat .\n' });
    const ok = dlip(['data', 'check', join(dir, 'captions.txt'), '--image-root', join(dir, 'Images')]);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, 'captions: 1 images, 2 captions; 1 of 1 images decode\n');
    const wrong = dlip(['data', 'check', join(dir, 'captions.txt')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.out, /^error: .*captions\.txt: none of its 1 images exists under .* \(e\.g\. .*\/cat\.jpg\); check --image-root$/m);
    assert.equal(wrong.out.split('\n').filter((l) => l.includes('cat.jpg')).length, 1);
  });
});
