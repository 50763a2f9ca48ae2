import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { interpolatePositionEmbedding } from '../../src/models/positions.js';

function grid(g: number, width: number, f: (y: number, x: number, c: number) => number): Float32Array {
  const out = new Float32Array((g * g + 1) * width);
  for (let c = 0; c < width; c++) out[c] = 100 + c;
  for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) for (let c = 0; c < width; c++) out[(1 + y * g + x) * width + c] = f(y, x, c);
  return out;
}

describe('position grid interpolation (bicubic, align_corners=False)', () => {
  it('is the identity at the same size and keeps the CLS position', () => {
    const src = grid(4, 3, (y, x, c) => Math.sin(y * 1.3 + x * 0.7 + c));
    const out = interpolatePositionEmbedding(src, 3, 4);
    src.forEach((v, i) => assert.ok(Math.abs(out[i]! - v) < 1e-6, `index ${i}`));
  });

  it('keeps constant fields constant and matches the cubic kernel on a ramp', () => {
    const constant = interpolatePositionEmbedding(grid(3, 2, () => 0.5), 2, 7);
    for (let i = 2; i < constant.length; i++) assert.ok(Math.abs(constant[i]! - 0.5) < 1e-6);
    // 2 → 4 along x on the ramp v = x. Output 0 samples source −0.25: i0 = −1, t = 0.75, taps
    // −2..1 clamp to columns [0, 0, 0, 1], so only the last weight meets a 1:
    // W(2 − t) = W(1.25) = A·1.25³ − 5A·1.25² + 8A·1.25 − 4A with A = −0.75 → −0.10546875.
    const ramp = interpolatePositionEmbedding(grid(2, 1, (_y, x) => x), 1, 4);
    const row = Array.from(ramp.slice(1, 5));
    assert.ok(Math.abs(row[0]! - -0.10546875) < 1e-7, `first ${row[0]}`);
    assert.ok(row.every((v, i) => i === 0 || v > row[i - 1]!), 'monotone ramp');
    assert.ok(Math.abs(row[0]! + row[3]! - 1) < 1e-6, 'symmetric about the centre');
  });

  it('rejects a non-square grid', () => {
    assert.throws(() => interpolatePositionEmbedding(new Float32Array(6 * 2), 2, 3), /not 1 \+ a square grid/);
  });
});
