import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import {
  BoundedQueue, captionPairs, DecodePool, defaultTokenizer, disposeBatch, epochOrder, loadBatches, loadKarpathy, openDataset, synthesizeWorld,
  type CaptionPair, type LoaderOptions,
} from '../../src/data/index.js';
import { dataFixtures as D } from './helpers.js';

before(() => initBackend('cpu'));

test('bounded queue: push waits while full, shift while empty, close ends consumers', async () => {
  const q = new BoundedQueue<number>(2);
  await q.push(1);
  await q.push(2);
  let third = false;
  const pending = q.push(3).then(() => (third = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(third, false);
  assert.equal(await q.shift(), 1);
  await pending;
  assert.equal(third, true);
  assert.equal(q.highWater, 2);
  assert.equal(await q.shift(), 2);
  assert.equal(await q.shift(), 3);
  const waiting = q.shift();
  q.close();
  assert.equal(await waiting, undefined);
});

test('epoch order is a seeded permutation, different per epoch', () => {
  const a = epochOrder(50, 1, 0);
  assert.deepEqual(a, epochOrder(50, 1, 0));
  assert.notDeepEqual(a, epochOrder(50, 1, 1));
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
});

test('the world through the loader: tensors of the right shapes, deterministic, flips swap left/right, memory bounded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dlip-pipe-'));
  const pool = new DecodePool(2);
  try {
    await synthesizeWorld({ out: dir, sizes: { train: 12, val: 1, test: 1 }, seed: 5, config: { minObjects: 2 } });
    const ds = openDataset(dir);
    const pairs = captionPairs(ds.captions('train'));
    assert.equal(pairs.length, 60);
    const options: LoaderOptions<CaptionPair> = {
      batchSize: 8, imageSize: 48, image: (p) => p.image, describe: (p) => p.source, text: (p) => p.caption,
      tokenizer: defaultTokenizer(), maxLength: 20, seed: 3, pool, prefetch: 6,
      augment: { flipProbability: 0.5, flipSwapsLeftRight: ds.manifest.flipSwapsLeftRight, crop: { scale: [0.8, 1], ratio: [3 / 4, 4 / 3] } },
    };
    const run = async () => {
      const out: { texts: string[]; flipped: boolean[]; sum: number; items: CaptionPair[] }[] = [];
      for await (const b of loadBatches(pairs, options, 1)) {
        assert.deepEqual(b.pixels.shape.slice(1), [3, 48, 48]);
        assert.deepEqual(b.inputIds!.shape, [b.items.length, 20]);
        assert.equal(b.inputIds!.dtype, 'int32');
        assert.equal(b.attentionMask!.dtype, 'int32');
        out.push({ texts: b.texts!, flipped: b.flipped, sum: (await b.pixels.sum().data())[0]!, items: b.items });
        disposeBatch(b);
      }
      return out;
    };
    const first = await run();
    assert.deepEqual(first.map((b) => b.items.length), [8, 8, 8, 8, 8, 8, 8, 4]);
    assert.deepEqual(await run(), first);
    let swapped = 0;
    for (const b of first) {
      b.items.forEach((item, i) => {
        const expected = b.flipped[i] ? item.caption.replace(/\b(left|right)\b/g, (w) => (w === 'left' ? 'right' : 'left')) : item.caption;
        assert.equal(b.texts[i], expected);
        if (b.flipped[i] && /\b(left|right)\b/.test(item.caption)) swapped++;
      });
    }
    assert.ok(swapped > 0, 'no flipped caption mentioned left or right');
    // The prefetch queue never held more than its capacity.
    let highWater = 0;
    const slow = loadBatches(pairs, { ...options, prefetch: 5, batchSize: 2 }, 0);
    for await (const b of slow) {
      disposeBatch(b);
      await new Promise((r) => setTimeout(r, 5));
      highWater = Math.max(highWater, (pool as unknown as { pending: Map<number, unknown> }).pending.size);
    }
    assert.ok(highWater <= 5, `in flight ${highWater}`);
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt image stops the stream naming file and record, or is skipped with a warning', async () => {
  const data = loadKarpathy(join(D, 'karpathy_bad.json'), { onBadSample: 'skip', warn: () => {} });
  const pairs = captionPairs(data);
  const base: LoaderOptions<CaptionPair> = { batchSize: 4, imageSize: 16, image: (p) => p.image, describe: (p) => p.source, shuffle: false };
  await assert.rejects(async () => {
    for await (const b of loadBatches(pairs, base)) disposeBatch(b);
  }, /karpathy_bad\.json: record 4: cannot decode image .*corrupt\.jpg/);
  const warnings: string[] = [];
  const got: string[] = [];
  for await (const b of loadBatches(pairs, { ...base, onBadSample: 'skip', warn: (m) => warnings.push(m) })) {
    got.push(...b.items.map((i) => i.imageId));
    disposeBatch(b);
  }
  assert.deepEqual(got, ['1']);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /corrupt\.jpg/);
});
