// Decode failures carry libvips's own reason even when many images decode at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DecodePool } from '../../src/data/index.js';
import { dataDir, photos } from './helpers.js';

test("a failing image among concurrent decodes reports its own libvips error, never another's or 'Unknown error'", async () => {
  const dir = dataDir({ 'cat.jpg': 'cat.jpg', 'coffee.png': 'coffee.png', 'short.jpg': 'truncated:cat.jpg' });
  const png = readFileSync(join(photos, 'coffee.png'));
  writeFileSync(join(dir, 'short.png'), png.subarray(0, png.length >> 1));
  const expected: Record<string, RegExp | undefined> = {
    'cat.jpg': undefined,
    'coffee.png': undefined,
    'short.jpg': /^VipsJpeg: premature end of JPEG image$/,
    'short.png': /^vipspng: libpng read error$/,
  };
  const names = Object.keys(expected);
  // libvips keeps one error buffer per process: before failures were re-decoded alone, about a
  // quarter of these came back as "Unknown error" or with the other file's message appended.
  const pool = new DecodePool(2);
  try {
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 48 }, async (_, i) => {
        const name = names[i % names.length]!;
        const outcome = await pool.decode({ path: join(dir, name), size: 64, flip: false }).then(() => 'decoded', (err: Error) => err.message);
        if (expected[name]) assert.match(outcome, expected[name]!, name);
        else assert.equal(outcome, 'decoded', name);
      }));
    }
  } finally {
    await pool.close();
  }
});
