import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankOf, recallAtK } from '../../../src/eval/metrics/index.js';

function close(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9, `${actual} != ${expected}`);
}

// 3 images × 5 texts; image 0 has captions 0 and 1, image 1 has 2 and 3, image 2 has 4.
const scores = [
  [0.9, 0.1, 0.8, 0.2, 0.3],
  [0.7, 0.6, 0.5, 0.1, 0.4],
  [0.5, 0.5, 0.5, 0.5, 0.5],
];
const textToImage = [0, 0, 1, 1, 2];

test('text and image retrieval ranks and Recall@K, by hand', () => {
  // TR (rows): image 0 → texts by score 0,2,4,3,1: caption 0 at rank 0.
  //            image 1 → 0,1,2,4,3: best of captions 2 (rank 2) and 3 (rank 4) is 2.
  //            image 2 → all tied, index order 0..4: caption 4 at rank 4.
  // IR (columns): text 0 [.9 .7 .5] → image 0 rank 0; text 1 [.1 .6 .5] → image 0 rank 2;
  //            text 2 [.8 .5 .5] → image 1 ties image 2 and comes first: rank 1;
  //            text 3 [.2 .1 .5] → image 1 rank 2; text 4 [.3 .4 .5] → image 2 rank 0.
  const r = recallAtK({ imageToText: scores, textToImage, ks: [1, 2, 3, 5, 10] });
  assert.deepEqual(r.textRanks, [0, 2, 4]);
  assert.deepEqual(r.imageRanks, [0, 2, 1, 2, 0]);
  close(r.textRecall[1]!, 100 / 3);
  close(r.textRecall[3]!, 200 / 3);
  close(r.textRecall[5]!, 100);
  close(r.imageRecall[1]!, 40);
  close(r.imageRecall[2]!, 60);
  close(r.imageRecall[10]!, 100);
});

test('default Ks and BLIP means: r_mean is the mean of the six recalls', () => {
  // TR@1,5,10 = 33.33, 100, 100 → 77.78; IR = 40, 100, 100 → 80; r_mean = 78.89.
  const r = recallAtK({ imageToText: scores, textToImage });
  assert.deepEqual(Object.keys(r.textRecall), ['1', '5', '10']);
  close(r.textMean, (100 / 3 + 200) / 3);
  close(r.imageMean, 80);
  close(r.mean, (100 / 3 + 100 + 100 + 40 + 100 + 100) / 6);
});

test('ties: the lower index ranks first', () => {
  assert.equal(rankOf([1, 1, 1], 0), 0);
  assert.equal(rankOf([1, 1, 1], 2), 2);
  assert.equal(rankOf([0, 2, 1, 2], 3), 1);
  assert.throws(() => rankOf([1, 2], 2), /rankOf target is 2, outside 0..1/);
});

test('a typed-array matrix gives the same result as number[][]', () => {
  const flat = { data: Float32Array.from(scores.flat()), rows: 3, cols: 5 };
  const a = recallAtK({ imageToText: scores, textToImage });
  const b = recallAtK({ imageToText: flat, textToImage });
  assert.deepEqual(b, a);
});

test('a separate text→image matrix is used for image retrieval', () => {
  // Every text now ranks its own image first; text retrieval is unchanged.
  const t2i = textToImage.map((img) => [0, 1, 2].map((j) => (j === img ? 1 : 0)));
  const r = recallAtK({ imageToText: scores, textToImageScores: t2i, textToImage });
  assert.deepEqual(r.imageRanks, [0, 0, 0, 0, 0]);
  assert.deepEqual(r.textRanks, [0, 2, 4]);
});

test('explicit imageToTexts: the best rank among the listed captions', () => {
  // Listing only caption 3 for image 1 (rank 4) instead of 2 and 3.
  const r = recallAtK({ imageToText: scores, textToImage, imageToTexts: [[0, 1], [3], [4]] });
  assert.deepEqual(r.textRanks, [0, 4, 4]);
});

test('malformed inputs give readable errors', () => {
  assert.throws(() => recallAtK({ imageToText: scores, textToImage: [0, 0, 1, 1] }), /imageToText is 3 × 5, expected 3 × 4/);
  assert.throws(() => recallAtK({ imageToText: scores, textToImage: [0, 0, 1, 1, 3] }), /textToImage\[4\] is 3, outside 0..2/);
  assert.throws(
    () => recallAtK({ imageToText: [[1, 2], [1]], textToImage: [0, 1] }),
    /imageToText row 1 has 1 columns, row 0 has 2/,
  );
  assert.throws(
    () => recallAtK({ imageToText: [[1, NaN], [1, 2]], textToImage: [0, 1] }),
    /imageToText\[0\]\[1\] is NaN/,
  );
  assert.throws(
    () => recallAtK({ imageToText: [[1, 2], [1, 2]], textToImage: [0, 0] }),
    /image 1 has no ground-truth caption/,
  );
  assert.throws(
    () => recallAtK({ imageToText: { data: new Float32Array(5), rows: 2, cols: 3 }, textToImage: [0, 1, 1] }),
    /has 5 values, not rows × cols = 2 × 3/,
  );
  assert.throws(() => recallAtK({ imageToText: scores, textToImage, ks: [0] }), /K must be a positive integer, got 0/);
});
