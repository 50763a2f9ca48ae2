import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { BLIP_MEAN, BLIP_STD, loadImageChw, loadRgb, normaliseToChw, Rng, sampleCrop } from '../../src/data/index.js';
import { photos } from './helpers.js';

test('real JPEG, PNG and WebP photos decode to S×S RGB', async () => {
  for (const f of ['cat.jpg', 'coffee.png', 'astronaut.webp']) {
    for (const size of [224, 384]) {
      const rgb = await loadRgb(join(photos, f), { size });
      assert.equal(rgb.length, size * size * 3, f);
    }
  }
});

// A 2×1 image: left pixel red, right pixel blue.
const twoPixels = () => sharp(Buffer.from([255, 0, 0, 0, 0, 255]), { raw: { width: 2, height: 1, channels: 3 } });

test('EXIF orientation is applied', async () => {
  // Orientation 6: stored image must be rotated 90° clockwise to display; 2×1 becomes 1×2, red on top.
  const jpeg = await twoPixels().resize(20, 10, { kernel: 'nearest' }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
  const rgb = await loadRgb(jpeg, { size: 10 });
  const top = rgb.subarray(0, 3);
  const bottom = rgb.subarray((9 * 10 + 5) * 3, (9 * 10 + 5) * 3 + 3);
  assert.ok(top[0]! > 200 && top[2]! < 60, `top ${[...top]}`);
  assert.ok(bottom[2]! > 200 && bottom[0]! < 60, `bottom ${[...bottom]}`);
});

test('greyscale, CMYK and alpha inputs become RGB', async () => {
  const grey = await sharp(Buffer.alloc(64, 100), { raw: { width: 8, height: 8, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  const g = await loadRgb(grey, { size: 4 });
  assert.equal(g.length, 48);
  assert.ok(Math.abs(g[0]! - 100) <= 2 && g[0] === g[1] && g[1] === g[2]);
  const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 30 } } }).toColourspace('cmyk').jpeg().toBuffer();
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const c = await loadRgb(cmyk, { size: 4 });
  assert.ok(c[0]! > 150 && c[1]! < 90 && c[2]! < 90, `cmyk → ${[...c.subarray(0, 3)]}`);
  const rgba = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } }).png().toBuffer();
  const a = await loadRgb(rgba, { size: 4 });
  assert.equal(a.length, 48);
  // Alpha is dropped, not blended with a background (PIL's convert('RGB')); ±1 from libvips rounding.
  [10, 20, 30].forEach((v, i) => assert.ok(Math.abs(a[i]! - v) <= 1, `${[...a.subarray(0, 3)]}`));
});

test('normalisation uses BLIP mean/std in CHW order', () => {
  const rgb = new Uint8Array([255, 0, 128, 0, 255, 128]);
  const chw = normaliseToChw(rgb, 1, new Float32Array(6), 0).subarray(0, 3);
  assert.ok(Math.abs(chw[0]! - (1 - BLIP_MEAN[0]) / BLIP_STD[0]) < 1e-5);
  assert.ok(Math.abs(chw[1]! - (0 - BLIP_MEAN[1]) / BLIP_STD[1]) < 1e-5);
  assert.ok(Math.abs(chw[2]! - (128 / 255 - BLIP_MEAN[2]) / BLIP_STD[2]) < 1e-5);
  return loadImageChw(join(photos, 'cat.jpg'), { size: 32 }).then((x) => assert.equal(x.length, 3 * 32 * 32));
});

test('horizontal flip mirrors the pixels', async () => {
  const png = await twoPixels().png().toBuffer();
  const plain = await loadRgb(png, { size: 2 });
  const flipped = await loadRgb(png, { size: 2, flip: true });
  // Each row's pixels in reverse order (the red left pixel ends up on the right).
  assert.ok(plain[0]! > 200 && plain[2]! < 60);
  assert.deepEqual([...flipped.subarray(0, 3)], [...plain.subarray(3, 6)]);
  assert.deepEqual([...flipped.subarray(3, 6)], [...plain.subarray(0, 3)]);
});

test('random resized crop: area and ratio within range, deterministic from the seed', () => {
  const params = { scale: [0.5, 1] as [number, number], ratio: [3 / 4, 4 / 3] as [number, number] };
  for (let s = 0; s < 200; s++) {
    const box = sampleCrop(300, 200, params, new Rng(s));
    assert.deepEqual(box, sampleCrop(300, 200, params, new Rng(s)));
    assert.ok(box.left >= 0 && box.top >= 0 && box.left + box.width <= 300 && box.top + box.height <= 200);
    const area = (box.width * box.height) / (300 * 200);
    assert.ok(area > 0.45 && area <= 1.01, `area ${area}`);
  }
});
