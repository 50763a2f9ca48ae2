// dataset.json as users write it: strict keys, split lists, one file for every split, shared images
// between splits, and a wrong image folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DataError, openDataset } from '../../src/data/index.js';
import { dataDir, manifest } from './helpers.js';

const PHOTOS = { 'cat.jpg': 'cat.jpg', 'coffee.png': 'coffee.png', 'astronaut.webp': 'astronaut.webp' };
const TOKENS = 'cat.jpg#0\tA cat .\ncat.jpg#1\tA tabby cat .\ncoffee.png#0\tA cup .\nastronaut.webp#0\tAn astronaut .\n';

test('unknown keys are refused, naming the file, where the key is and the nearest valid key', () => {
  const dir = dataDir(PHOTOS, {
    'Flickr8k.token.txt': TOKENS,
    'dataset.json': manifest({ train: { captions: 'Flickr8k.token.txt', images: 'train.txt' }, validation: {} }, { imgRoot: '.' }),
  });
  assert.throws(() => openDataset(dir), (err: Error) => {
    assert.ok(err instanceof DataError);
    assert.match(err.message, new RegExp(`^${join(dir, 'dataset.json').replaceAll('/', '\\/')}: not a dlip dataset manifest:`));
    assert.match(err.message, /unknown key "images" in "splits\.train" \(did you mean "imageList"\?/);
    assert.match(err.message, /unknown key "validation" in "splits" \(did you mean "val"\?/);
    assert.match(err.message, /unknown key "imgRoot" \(did you mean "imageRoot"\? valid: format, version, name, imageRoot/);
    return true;
  });
  const nested = dataDir({}, { 'dataset.json': manifest({ train: { vqa: { questions: 'q.json', annotation: 'a.json' } } }) });
  assert.throws(() => openDataset(nested), /unknown key "annotation" in "splits\.train\.vqa" \(did you mean "annotations"\?/);
});

test('split-list files choose each split\'s images from one captions file, with no overlap warning', () => {
  const dir = dataDir(PHOTOS, {
    'Flickr8k.token.txt': TOKENS,
    'Flickr_8k.trainImages.txt': 'cat.jpg\nastronaut.webp\n',
    'Flickr_8k.testImages.txt': 'coffee.png\n',
    'dataset.json': manifest({
      train: { captions: 'Flickr8k.token.txt', imageList: 'Flickr_8k.trainImages.txt' },
      test: { captions: 'Flickr8k.token.txt', imageList: 'Flickr_8k.testImages.txt' },
    }),
  });
  const ds = openDataset(dir);
  const warnings: string[] = [];
  assert.deepEqual(ds.captions('train', { warn: (m) => warnings.push(m) }).images.map((i) => [i.imageId, i.captions.length]), [['cat', 2], ['astronaut', 1]]);
  assert.deepEqual(ds.captions('test', { warn: (m) => warnings.push(m) }).images.map((i) => i.imageId), ['coffee']);
  assert.deepEqual(warnings, []);
});

test('splits that share images are warned about once, with the count and an example', () => {
  const dir = dataDir(PHOTOS, {
    'Flickr8k.token.txt': TOKENS,
    'dataset.json': manifest({ train: { captions: 'Flickr8k.token.txt' }, test: { captions: 'Flickr8k.token.txt' } }),
  });
  const ds = openDataset(dir);
  const warnings: string[] = [];
  ds.captions('train', { warn: (m) => warnings.push(m) });
  ds.captions('test', { warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /dataset\.json: splits "train" and "test" share 3 images \(e\.g\. .*cat\.jpg\)/);
  assert.deepEqual(ds.sharedImages('captions').map((s) => [s.splits, s.count]), [[['train', 'test'], 3]]);
});

test("Karpathy's dataset_*.json serves every split from one file; restval counts as train", () => {
  const sentences = (...raw: string[]) => raw.map((r) => ({ raw: r, tokens: r.split(' ') }));
  const dir = dataDir({ ...PHOTOS, 'val2014/dog.jpg': 'cat.jpg' }, {
    'dataset_flickr8k.json': {
      dataset: 'flickr8k',
      images: [
        { filename: 'cat.jpg', imgid: 0, split: 'train', sentences: sentences('A cat .', 'A tabby cat .'), sentids: [0, 1] },
        { filename: 'coffee.png', imgid: 1, split: 'restval', sentences: sentences('A cup .') },
        { filepath: 'val2014', filename: 'dog.jpg', imgid: 2, cocoid: 42, split: 'val', sentences: sentences('A dog .') },
        { filename: 'astronaut.webp', imgid: 3, split: 'test', sentences: sentences('An astronaut .') },
      ],
    },
    'dataset.json': manifest({ train: { captions: 'dataset_flickr8k.json' }, val: { captions: 'dataset_flickr8k.json' }, test: { captions: 'dataset_flickr8k.json' } }),
  });
  const ds = openDataset(dir);
  const warnings: string[] = [];
  const ids = (split: 'train' | 'val' | 'test') => ds.captions(split, { warn: (m) => warnings.push(m) }).images.map((i) => i.imageId);
  assert.deepEqual(ids('train'), ['cat', 'coffee']);
  assert.deepEqual(ids('val'), ['42']);
  assert.deepEqual(ids('test'), ['astronaut']);
  assert.deepEqual(ds.captions('train').images[0]!.captions, ['A cat .', 'A tabby cat .']);
  assert.equal(ds.captions('val').images[0]!.image, join(dir, 'val2014', 'dog.jpg'));
  assert.deepEqual(warnings, []);
});

test('a wrong imageRoot is one line naming the folder and the manifest key, whatever the policy', () => {
  const dir = dataDir(PHOTOS, {
    'Flickr8k.token.txt': TOKENS,
    'dataset.json': manifest({ train: { captions: 'Flickr8k.token.txt' } }, { imageRoot: 'Flicker8k_Dataset' }),
  });
  for (const onBadSample of ['fail', 'skip'] as const) {
    assert.throws(() => openDataset(dir).captions('train', { onBadSample, warn: () => {} }), (err: Error) => {
      assert.ok(!err.message.includes('\n'), err.message);
      assert.match(err.message, /Flickr8k\.token\.txt: none of its 3 images exists under .*Flicker8k_Dataset \(e\.g\. .*Flicker8k_Dataset\/cat\.jpg\); check "imageRoot" in .*dataset\.json$/);
      return true;
    });
  }
});
