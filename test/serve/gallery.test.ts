// The gallery store on its own: replay, torn tails, compaction, orphans, re-embedding, search.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gallery } from '../../src/serve/gallery/gallery.js';
import { encodeRecord, readRecords } from '../../src/serve/gallery/records.js';
import { VectorIndex } from '../../src/serve/gallery/vector-index.js';
import { tmp } from './helpers.js';

const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return Float32Array.from(xs.map((x) => x / n));
};
const image = (i: number) => Buffer.from(`image-${i}`);
/** Embeds a fake "image" as a direction given by its bytes, so re-embedding is checkable. */
const fakeEmbed = (scale: number) => async (images: Buffer[]) => images.map((b) => unit(b.length * scale, 1, 0));

async function opened(dir: string, version = 'v1'): Promise<Gallery> {
  const g = await Gallery.open(dir, { compactAfter: 5 });
  await g.adopt(version, 3, fakeEmbed(1));
  return g;
}

describe('gallery store', () => {
  it('frames records with a CRC and stops at a torn or corrupt one', () => {
    const a = encodeRecord({ op: 'add', id: 'a', version: 'v', file: 'f', meta: { x: 1 }, added: 5, vector: unit(1, 2, 3) });
    const b = encodeRecord({ op: 'remove', id: 'a' });
    const whole = readRecords(Buffer.concat([a, b]));
    assert.equal(whole.records.length, 2);
    assert.deepEqual(Array.from((whole.records[0] as { vector: Float32Array }).vector), Array.from(unit(1, 2, 3)));
    assert.equal(readRecords(Buffer.concat([a, b.subarray(0, b.length - 1)])).validBytes, a.length);
    const flipped = Buffer.concat([a, b]);
    flipped[a.length + 10]! ^= 1;
    assert.deepEqual(readRecords(flipped).validBytes, a.length);
  });

  it('replays adds and removes across a restart, after a torn tail is cut off', async () => {
    const dir = tmp('gallery');
    const g = await opened(dir);
    await g.add('one', unit(1, 0, 0), 'v1', { n: 1 }, image(1));
    await g.add('two', unit(0, 1, 0), 'v1', {}, image(2));
    await g.remove('one');
    await g.close();
    // A crash in the middle of writing the next record: half a frame at the end of the log.
    const log = join(dir, 'log-0.bin');
    appendFileSync(log, encodeRecord({ op: 'remove', id: 'two' }).subarray(0, 9));
    const sizeBefore = statSync(log).size;
    const again = await opened(dir);
    assert.equal(again.openReport.tornBytes, 9);
    assert.equal(statSync(log).size, sizeBefore - 9);
    assert.deepEqual(again.list(0, 10).map((e) => e.id), ['two']);
    assert.deepEqual((await again.image('two')).toString(), 'image-2');
    await again.close();
  });

  it('compacts into a snapshot and keeps every entry, deleting the old log and orphan uploads', async () => {
    const dir = tmp('gallery');
    const g = await opened(dir);
    for (let i = 0; i < 12; i++) await g.add(`e${i}`, unit(i, 1, 0), 'v1', { i }, image(i));
    for (let i = 0; i < 12; i += 3) await g.remove(`e${i}`);
    const files = readdirSync(dir).filter((f) => f.startsWith('log-'));
    assert.equal(files.length, 1);
    assert.notEqual(files[0], 'log-0.bin', 'compaction started a new log generation');
    await g.close();
    writeFileSync(join(dir, 'images', 'left-by-a-crash'), 'x');
    const again = await opened(dir);
    assert.equal(again.openReport.orphanImages, 1);
    assert.deepEqual(again.list(0, 100).map((e) => e.id), ['e1', 'e2', 'e4', 'e5', 'e7', 'e8', 'e10', 'e11']);
    assert.deepEqual(again.get('e5')!.meta, { i: 5 });
    assert.equal(again.search(unit(5, 1, 0), 1)[0]!.id, 'e5');
    assert.equal(readdirSync(join(dir, 'images')).length, 8);
    await again.close();
  });

  it('refuses a damaged snapshot, naming the file', async () => {
    const dir = tmp('gallery');
    const g = await opened(dir);
    await g.add('a', unit(1, 0, 0), 'v1', {}, image(1));
    await g.compact();
    await g.close();
    const snapshot = join(dir, 'snapshot.bin');
    truncateSync(snapshot, readFileSync(snapshot).length - 2);
    await assert.rejects(Gallery.open(dir), /snapshot\.bin: corrupt gallery snapshot/);
  });

  it('re-embeds every entry for a new model version, then refuses stale embeddings', async () => {
    const dir = tmp('gallery');
    const g = await opened(dir);
    await g.add('short', unit(6, 1, 0), 'v1', {}, Buffer.from('ab'));
    await g.add('long', unit(9, 1, 0), 'v1', {}, Buffer.from('abcdefgh'));
    let switched = false;
    await g.adopt('v2', 3, fakeEmbed(-1), () => (switched = true));
    assert.ok(switched);
    assert.equal(g.version, 'v2');
    assert.ok(g.list(0, 10).every((e) => e.version === 'v2'));
    const hit = g.search(unit(-8, 1, 0), 1)[0]!;
    assert.equal(hit.id, 'long');
    assert.ok(Math.abs(hit.score - 1) < 1e-6, 'the new embedding is the one searched');
    assert.equal(await g.add('late', unit(1, 0, 0), 'v1', {}, image(3)), 'stale');
    await g.close();
    const again = await Gallery.open(dir);
    assert.deepEqual(again.staleIds('v2'), [], 'the re-embedding was persisted');
    await again.close();
  });

  it('finds the same top k as sorting every score', () => {
    const index = new VectorIndex(4, 2);
    const vectors = Array.from({ length: 300 }, (_, i) => unit(Math.sin(i), Math.cos(i * 3), Math.sin(i * 7), 0.5));
    vectors.forEach((v, i) => index.set(`v${i}`, v));
    for (let i = 0; i < 300; i += 7) index.delete(`v${i}`);
    const q = unit(0.3, -0.2, 0.9, 0.1);
    const expected = vectors
      .map((v, i) => ({ id: `v${i}`, score: v.reduce((s, x, j) => s + x * q[j]!, 0) }))
      .filter((_, i) => i % 7 !== 0)
      .sort((a, b) => b.score - a.score)
      .slice(0, 10);
    const got = index.search(q, 10);
    assert.deepEqual(got.map((h) => h.id), expected.map((h) => h.id));
  });
});
