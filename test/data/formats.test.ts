import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  DataError, detectCaptionFormat, loadAnswerList, loadCaptions, loadCocoCaptions, loadFlickrTokens, loadJsonlCaptions, loadKarpathy, loadVqa,
} from '../../src/data/index.js';
import { dataDir, dataFixtures as D, photos } from './helpers.js';

const PHOTOS = { 'cat.jpg': 'cat.jpg', 'coffee.png': 'coffee.png', 'astronaut.webp': 'astronaut.webp' };

test('Karpathy train records group by image; test records carry a list', () => {
  const train = loadKarpathy(join(D, 'karpathy_train.json'));
  assert.equal(train.images.length, 3);
  assert.deepEqual(train.images[0]!.captions, ['A tabby cat with green eyes.', 'the face of a striped cat up close']);
  assert.equal(train.images[0]!.imageId, 'photo_1');
  assert.equal(train.images[0]!.image, join(photos, 'cat.jpg'));
  const testSet = loadKarpathy(join(D, 'karpathy_test.json'));
  assert.deepEqual(testSet.images.map((i) => i.captions.length), [2, 2]);
});

test('COCO captions, Flickr token files (with a split list) and JSONL', () => {
  const coco = loadCocoCaptions(join(D, 'captions_val2014.json'), { imageRoot: photos });
  assert.deepEqual(coco.images.map((i) => [i.imageId, i.captions.length]), [['11', 2], ['12', 1]]);
  const flickr = loadFlickrTokens(join(D, 'Flickr8k.token.txt'), { imageRoot: photos });
  assert.deepEqual(flickr.images.map((i) => [i.imageId, i.captions]), [
    ['cat', ['A tabby cat with green eyes .', 'A striped cat with a pink nose .']], ['coffee', ['A red cup of coffee on a wooden table .']], ['astronaut', ['An astronaut in an orange suit .']],
  ]);
  const split = loadFlickrTokens(join(D, 'Flickr8k.token.txt'), { imageRoot: photos, imageList: join(D, 'Flickr_8k.trainImages.txt') });
  assert.deepEqual(split.images.map((i) => i.imageId), ['cat', 'astronaut']);
  const jsonl = loadJsonlCaptions(join(D, 'captions.jsonl'));
  assert.deepEqual(jsonl.images.map((i) => [i.imageId, i.captions.length]), [['../photos/cat.jpg', 2], ['7', 1]]);
});

test('format detection', () => {
  assert.equal(detectCaptionFormat(join(D, 'karpathy_train.json')), 'karpathy');
  assert.equal(detectCaptionFormat(join(D, 'captions_val2014.json')), 'coco');
  assert.equal(detectCaptionFormat(join(D, 'Flickr8k.token.txt')), 'flickr');
  assert.equal(detectCaptionFormat(join(D, 'captions.jsonl')), 'jsonl');
  assert.equal(loadCaptions(join(D, 'captions_val2014.json'), { imageRoot: photos }).images.length, 2);
});

test('bad records: fail lists each by file, record and field; skip keeps the good ones', () => {
  const file = join(D, 'karpathy_bad.json');
  assert.throws(() => loadKarpathy(file), (err: Error) => {
    assert.ok(err instanceof DataError);
    assert.match(err.message, /3 bad samples/);
    assert.match(err.message, /karpathy_bad\.json: record 1: field "caption"/);
    assert.match(err.message, /record 2: field "image"/);
    assert.match(err.message, /record 3: image file not found: .*missing\.jpg/);
    return true;
  });
  const warnings: string[] = [];
  const kept = loadKarpathy(file, { onBadSample: 'skip', warn: (m) => warnings.push(m) });
  assert.deepEqual(kept.images.map((i) => i.imageId), ['1', 'corrupt.jpg']);
  assert.match(warnings[0]!, /skipped 3 bad samples/);
  assert.throws(() => loadJsonlCaptions(join(D, 'captions_bad.jsonl')), /line 2: field "captions".*\n.*line 3: not valid JSON/s);
  assert.throws(() => loadKarpathy(join(D, 'captions_val2014.json')), /not a Karpathy-split JSON list/);
  assert.throws(() => loadKarpathy(join(D, 'nope.json')), /nope\.json: cannot read/);
});

test('VQAv2 questions + annotations with the COCO image naming, and an answer list', () => {
  const samples = loadVqa(join(D, 'vqa', 'v2_OpenEnded_mscoco_val2014_questions.json'), { annotations: join(D, 'vqa', 'v2_mscoco_val2014_annotations.json') });
  assert.equal(samples.length, 3);
  assert.equal(samples[0]!.image, join(D, 'vqa', 'val2014', 'COCO_val2014_000000000011.jpg'));
  assert.equal(samples[0]!.answers.length, 10);
  assert.equal(samples[0]!.multipleChoiceAnswer, 'cat');
  assert.equal(samples[2]!.answerType, 'other');
  const noAnswers = loadVqa(join(D, 'vqa', 'v2_OpenEnded_mscoco_val2014_questions.json'));
  assert.deepEqual(noAnswers[1]!.answers, []);
  assert.deepEqual(loadAnswerList(join(D, 'vqa', 'answer_list.json')).slice(0, 2), ['cat', 'yes']);
  assert.throws(
    () => loadVqa(join(D, 'vqa', 'v2_OpenEnded_mscoco_val2014_questions.json'), { imagePattern: 'x/{id}.jpg' }),
    /questions\.json: none of its 2 images exists under .*vqa \(e\.g\. .*x\/11\.jpg\); check the image folder .* and the image pattern "x\/\{id\}\.jpg"$/,
  );
});

test('Flickr8k captions.txt ("image,caption" CSV): quoted commas and quotes, unquoted commas, bad lines by number', () => {
  const dir = dataDir(PHOTOS, {
    'captions.txt': [
      'image,caption',
      'cat.jpg,"A cat, a tabby one , looks up ."',
      'cat.jpg,"The cat says ""meow"" ."',
      'coffee.png,A cup , a saucer and a spoon .',
      'astronaut.webp,An astronaut in a "space" suit .',
      'astronaut.webp',
      '',
    ].join('\r\n'),
  });
  const file = join(dir, 'captions.txt');
  assert.equal(detectCaptionFormat(file), 'csv');
  assert.throws(() => loadCaptions(file), /1 bad sample.*\n.*captions\.txt: line 6: expected "image,caption", got "astronaut\.webp"/);
  const warnings: string[] = [];
  const data = loadCaptions(file, { onBadSample: 'skip', warn: (m) => warnings.push(m) });
  assert.deepEqual(data.images.map((i) => [i.imageId, i.captions]), [
    ['cat', ['A cat, a tabby one , looks up .', 'The cat says "meow" .']],
    ['coffee', ['A cup , a saucer and a spoon .']],
    ['astronaut', ['An astronaut in a "space" suit .']],
  ]);
  assert.equal(warnings.length, 1);
  // Read as a token file on purpose, it is one error that says what it is, not one per line.
  assert.throws(() => loadCaptions(file, { format: 'flickr' }), (err: Error) => {
    assert.ok(!err.message.includes('\n'), err.message);
    assert.match(err.message, /captions\.txt: not a Flickr token file .*line 1 is "image,caption"\); it is "image,caption" CSV: format csv$/);
    return true;
  });
});

test("format detection tells Karpathy's dataset_*.json from the Karpathy list and COCO, and says what it expected", () => {
  const dir = dataDir({}, {
    'dataset_coco.json': { images: [{ filepath: 'val2014', filename: 'x.jpg', split: 'val', sentences: [{ raw: 'a' }] }], dataset: 'coco' },
    'other.json': { captions: [] },
  });
  assert.equal(detectCaptionFormat(join(dir, 'dataset_coco.json')), 'karpathy-dataset');
  assert.throws(() => detectCaptionFormat(join(dir, 'other.json')), /other\.json: not a caption file dlip reads: expected a Karpathy-split list .*Karpathy's dataset_\*\.json .*COCO captions/);
});
