import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHeader, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'dlip-st-'));

/** A safetensors file assembled by hand from the specification, independent of our writer. */
function handMade(name: string, tensors: { name: string; dtype: string; shape: number[]; bytes: Buffer }[]): string {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, json, ...tensors.map((t) => t.bytes)]));
  return path;
}

describe('safetensors', () => {
  it('reads F16, BF16 and I64 exactly', async () => {
    const f16 = Buffer.alloc(8);
    [0x3c00, 0xc000, 0x3555, 0x0001].forEach((h, i) => f16.writeUInt16LE(h, 2 * i)); // 1, -2, ~1/3, smallest subnormal
    const bf16 = Buffer.alloc(4);
    [0x3f80, 0xc0a0].forEach((h, i) => bf16.writeUInt16LE(h, 2 * i)); // 1, -5
    const i64 = Buffer.alloc(16);
    i64.writeBigInt64LE(-100n, 0);
    i64.writeBigInt64LE(30523n, 8);
    const path = handMade('mixed.safetensors', [
      { name: 'a', dtype: 'F16', shape: [2, 2], bytes: f16 },
      { name: 'b', dtype: 'BF16', shape: [2], bytes: bf16 },
      { name: 'ids', dtype: 'I64', shape: [2], bytes: i64 },
    ]);
    const t = await readSafetensors(path);
    assert.deepEqual(Array.from(t.get('a')!.data as Float32Array).slice(0, 2), [1, -2]);
    assert.ok(Math.abs((t.get('a')!.data[2] as number) - 0.33325195) < 1e-7);
    assert.equal(t.get('a')!.data[3], 2 ** -24);
    assert.deepEqual(Array.from(t.get('b')!.data as Float32Array), [1, -5]);
    assert.deepEqual(Array.from(t.get('ids')!.data as BigInt64Array), [-100n, 30523n]);
    assert.deepEqual((await readHeader(path)).metadata, { format: 'pt' });
  });

  it('round-trips F32 through the writer, atomically, with aligned data', async () => {
    const path = join(dir, 'rt.safetensors');
    const tensors = new Map([
      ['z.weight', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['a.bias', { shape: [], data: Float32Array.from([0.07]) }],
    ]);
    await writeSafetensors(path, tensors, { format: 'pt' });
    const header = await readHeader(path);
    assert.equal(header.dataStart % 8, 0);
    assert.deepEqual([...header.entries.keys()], ['a.bias', 'z.weight']);
    const back = await readSafetensors(path);
    assert.deepEqual(Array.from(back.get('z.weight')!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(back.get('a.bias')!.shape, []);
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'temp file left behind');
  });

  it('writes F16 in half the bytes, rounding each value to the nearest half', async () => {
    const path = join(dir, 'half.safetensors');
    // 1 + 2^-11 lies halfway between two halves and rounds to even (1); 1 + 3 * 2^-11 rounds up to 1 + 2^-9.
    const values = Float32Array.from([1, -2, 1 / 3, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 2 ** -24, 0.1]);
    await writeSafetensors(path, new Map([['w', { shape: [2, 4], data: values }]]), undefined, 'F16');
    const header = await readHeader(path);
    assert.equal(header.entries.get('w')!.dtype, 'F16');
    assert.equal(header.entries.get('w')!.end - header.entries.get('w')!.begin, 16);
    const back = Array.from((await readSafetensors(path)).get('w')!.data as Float32Array);
    assert.deepEqual(back.slice(0, 2), [1, -2]);
    assert.equal(back[2], 0.333251953125);
    assert.equal(back[3], 1);
    assert.equal(back[4], 1 + 2 ** -9);
    assert.deepEqual(back.slice(5, 7), [65504, 2 ** -24]);
    assert.equal(back[7], 0.0999755859375);
  });

  it('writes F16 rounded to nearest (ties to even, subnormals, overflow) and I32 exactly', async () => {
    const path = join(dir, 'f16.safetensors');
    // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even wins (1); 1 + 3·2^-11 rounds up to 1 + 2^-9.
    const floats = [1, -2, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 3 * 2 ** -26, 1e-9, 70000, 65504, -0.1];
    const expected = [1, -2, 1, 1 + 2 ** -9, 2 ** -24, 2 ** -24, 0, Infinity, 65504, -0.0999755859375];
    await writeSafetensors(path, new Map([
      ['h', { shape: [floats.length], data: Float32Array.from(floats), dtype: 'F16' as const }],
      ['ids', { shape: [3], data: Int32Array.from([-100, 0, 30523]), dtype: 'I32' as const }],
    ]));
    const header = await readHeader(path);
    assert.equal(header.entries.get('h')!.end - header.entries.get('h')!.begin, 2 * floats.length);
    const back = await readSafetensors(path);
    assert.deepEqual(Array.from(back.get('h')!.data as Float32Array), expected);
    assert.equal(back.get('ids')!.dtype, 'I32');
    assert.deepEqual(Array.from(back.get('ids')!.data as Int32Array), [-100, 0, 30523]);
    await assert.rejects(writeSafetensors(path, new Map([['x', { shape: [1], data: Float32Array.from([1]), dtype: 'I32' as const }]])), /"x".*dtype I32 needs Int32Array/);
  });

  it('names the file and tensor when the file is malformed', async () => {
    const truncated = handMade('short.safetensors', [{ name: 'w', dtype: 'F32', shape: [4], bytes: Buffer.alloc(12) }]);
    await assert.rejects(readSafetensors(truncated), /short\.safetensors.*"w".*16 bytes but spans 12/);
    const notJson = join(dir, 'junk.safetensors');
    writeFileSync(notJson, Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]));
    await assert.rejects(readSafetensors(notJson), /junk\.safetensors: not a valid safetensors file: header is not JSON/);
    await assert.rejects(readSafetensors(join(dir, 'absent.safetensors')), /absent\.safetensors: cannot open \(ENOENT\)/);
    const path = handMade('u8.safetensors', [{ name: 'q', dtype: 'U8', shape: [2], bytes: Buffer.alloc(2) }]);
    await assert.rejects(readSafetensors(path), /"q" has dtype U8/);
  });
});
