// Delta updates of model folders: a patch carries only what changed and rebuilds the new folder byte
// for byte; apply refuses another base, corrupt, truncated and badly signed patches, and writes nothing then.
import { describe, it, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { applyDelta, createDelta, decodePatch, readPrivateKey, readPublicKey, writeKeyPair } from '../../src/delta/index.js';
import { encodePatch } from '../../src/delta/format.js';
import { packageRoot } from '../../src/paths.js';
import { tinyConfig } from '../helpers/tiny.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-delta-'));
const OLD = join(work, 'old');
const NEW = join(work, 'new');
const OTHER = join(work, 'other');
let patchBytes: Buffer;
let expectedChanged: string[];

/** Names of the tensors whose values differ between two folders' weights (read independently of delta). */
async function changedTensors(a: string, b: string): Promise<string[]> {
  const [ta, tb] = [await readSafetensors(join(a, 'model.safetensors')), await readSafetensors(join(b, 'model.safetensors'))];
  return [...tb.keys()].filter((k) => !ta.has(k) || Buffer.compare(Buffer.from(ta.get(k)!.data.buffer), Buffer.from(tb.get(k)!.data.buffer)) !== 0).sort();
}

function files(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

const leftovers = () => readdirSync(work).filter((f) => f.endsWith('.tmp'));

before(async () => {
  await initBackend('cpu');
  const model = createModel(tinyConfig({ vocab: 4000 }), 'BlipForConditionalGeneration');
  initParameters(model, 1);
  await saveModel(model, OLD);
  writeFileSync(join(OLD, 'NOTES.md'), 'base notes\n');
  // A "fine-tune" that touches two parameters: the LM bias (stored twice, HF's alias) and one layer's FFN.
  for (const name of ['text_decoder.cls.predictions.bias', 'text_decoder.bert.encoder.layer.1.output.dense.weight']) {
    const p = model.namedParameters().get(name)!;
    p.assign(Float32Array.from(p.value.dataSync(), (v, i) => v + (i % 3 === 0 ? 1e-3 : 0)));
  }
  await saveModel(model, NEW);
  const config = JSON.parse(readFileSync(join(NEW, 'config.json'), 'utf8'));
  writeFileSync(join(NEW, 'config.json'), JSON.stringify({ ...config, dlip_description: 'fine-tuned' }));
  writeFileSync(join(NEW, 'MODEL.md'), '# fine-tuned\n');
  initParameters(model, 2);
  await saveModel(model, OTHER);
  model.dispose();
  expectedChanged = await changedTensors(OLD, NEW);
  patchBytes = (await createDelta(OLD, NEW)).bytes;
  writeFileSync(join(work, 'patch'), patchBytes);
});

describe('dlip delta', () => {
  it('carries only the changed tensors and files, and rebuilds the new folder byte for byte', async () => {
    const { header } = decodePatch(patchBytes, 'patch');
    assert.deepEqual(expectedChanged, ['text_decoder.bert.encoder.layer.1.output.dense.weight', 'text_decoder.cls.predictions.bias', 'text_decoder.cls.predictions.decoder.bias']);
    assert.deepEqual(header.tensors.filter((t) => t.source === 'patch').map((t) => t.name).sort(), expectedChanged);
    assert.equal(header.summary.tensors.changed, 3);
    assert.equal(header.summary.tensors.unchanged, header.tensors.length - 3);
    assert.deepEqual(header.summary.files, { unchanged: 0, changed: ['MODEL.md', 'config.json', 'dlip.json'], removed: ['NOTES.md'] });
    const weights = statSync(join(NEW, 'model.safetensors')).size;
    assert.ok(patchBytes.length < weights / 10, `patch ${patchBytes.length} bytes vs weights ${weights}`);
    const out = join(work, 'applied');
    const report = await applyDelta(OLD, join(work, 'patch'), out);
    assert.deepEqual(files(out), files(NEW));
    assert.equal(report.sha256, header.result.sha256);
    assert.equal(report.signed, false);
    assert.deepEqual(leftovers(), []);
  });

  it('a folder against itself gives a patch with no tensor data', async () => {
    const { header, bytes } = await createDelta(OLD, OLD, { codec: 'brotli' });
    assert.equal(header.summary.tensors.changed + header.summary.tensors.added, 0);
    assert.ok(bytes.length < 0.1 * statSync(join(OLD, 'model.safetensors')).size);
    const out = join(work, 'same');
    const patch = await writeTemp('same.patch', bytes);
    await applyDelta(OLD, patch, out);
    assert.deepEqual(files(out), files(OLD));
    // The patch reuses the base's files: a base with the same weights but an edited file is refused.
    const edited = join(work, 'edited-base');
    await cp(OLD, edited, { recursive: true });
    writeFileSync(join(edited, 'NOTES.md'), 'edited\n');
    await assert.rejects(applyDelta(edited, patch, join(work, 'edited-out')), /edited-base\/NOTES.md differs from the base the patch was made against/);
    assert.equal(existsSync(join(work, 'edited-out')), false);
  });

  it('refuses a patch made for another base, and writes nothing', async () => {
    const out = join(work, 'wrong-base');
    await assert.rejects(applyDelta(OTHER, join(work, 'patch'), out), /was made for another base: it needs weights with sha256 [0-9a-f]{16}…, and .*other\/model.safetensors has [0-9a-f]{16}…/);
    assert.equal(existsSync(out), false);
  });

  it('refuses corrupt and truncated patches with a clear error', async () => {
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', patchBytes.subarray(0, patchBytes.length - 10), /truncated: \d+ bytes, the header says \d+/],
      ['cut in the header', patchBytes.subarray(0, 40), /truncated or corrupt: the header claims/],
      ['padded', Buffer.concat([patchBytes, Buffer.from('xyz')]), /corrupt: \d+ bytes, expected \d+ \(unsigned\)/],
      ['not a patch', Buffer.from('hello world, not a patch at all'), /not a dlip delta patch/],
      ['flipped payload byte', flip(patchBytes, patchBytes.length - 5), /the payload's sha256 does not match/],
    ];
    for (const [name, bytes, error] of cases) {
      const out = join(work, `bad-${name.replace(/ /g, '-')}`);
      await assert.rejects(applyDelta(OLD, await writeTemp(`${name}.patch`, bytes), out), error, name);
      assert.equal(existsSync(out), false, name);
    }
    // A header that lies about the result (its payload intact) is caught by the result hash.
    const { header, payload } = decodePatch(patchBytes, 'patch');
    const lying = encodePatch({ ...header, result: { ...header.result, sha256: 'f'.repeat(64) } }, payload);
    await assert.rejects(applyDelta(OLD, await writeTemp('lying.patch', lying), join(work, 'lying')), /the rebuilt weights have sha256 [0-9a-f]{16}…, the patch promises ffff.*nothing was written/);
    assert.deepEqual(leftovers(), []);
  });

  it('never overwrites an existing folder', async () => {
    await assert.rejects(applyDelta(OLD, join(work, 'patch'), NEW), /already exists/);
  });

  it('signs with ed25519 and refuses unsigned, wrongly signed or altered patches under --verify-key', async () => {
    const alice = await writeKeyPair(join(work, 'alice'));
    const mallory = await writeKeyPair(join(work, 'mallory'));
    assert.equal(statSync(alice.privatePath).mode & 0o777, 0o600);
    await assert.rejects(writeKeyPair(join(work, 'alice')), /already exists; keygen never overwrites/);
    const signed = (await createDelta(OLD, NEW, { signKey: await readPrivateKey(alice.privatePath) })).bytes;
    const signedPath = await writeTemp('signed.patch', signed);
    const aliceKey = await readPublicKey(alice.publicPath);
    const r = await applyDelta(OLD, signedPath, join(work, 'signed-ok'), { verifyKey: aliceKey });
    assert.deepEqual([r.signed, r.verified], [true, true]);
    assert.deepEqual(files(join(work, 'signed-ok')), files(NEW));
    // Without a verify key a signed patch applies (the signature is not checked).
    await applyDelta(OLD, signedPath, join(work, 'signed-unchecked'));
    await assert.rejects(applyDelta(OLD, join(work, 'patch'), join(work, 'no-sig'), { verifyKey: aliceKey }), /is not signed, and --verify-key requires a patch signed by key [0-9a-f]{16}/);
    await assert.rejects(applyDelta(OLD, signedPath, join(work, 'wrong-key'), { verifyKey: await readPublicKey(mallory.publicPath) }), new RegExp(`signed by key ${alice.fingerprint}, not by the verify key ${mallory.fingerprint}`));
    // A payload byte altered under Alice's signature: refused before the payload hash is even read.
    const altered = flip(signed, signed.length - 104 - 5);
    await assert.rejects(applyDelta(OLD, await writeTemp('altered.patch', altered), join(work, 'altered'), { verifyKey: aliceKey }), /the signature does not verify with key/);
    await assert.rejects(readPublicKey(alice.privatePath), /a private key; --verify-key takes the public \.pub file/);
    await assert.rejects(readPrivateKey(join(work, 'patch')), /not a PEM private key/);
    for (const dir of ['no-sig', 'wrong-key', 'altered']) assert.equal(existsSync(join(work, dir)), false);
  });

  it('runs as dlip delta keygen / create / apply, with one-line errors', async () => {
    // The real binary, so the output and the one-line error are what a user sees.
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [join(packageRoot, 'dist', 'src', 'cli', 'main.js'), '--backend', 'cpu', ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr.trim());
      return r.stdout;
    };
    const keys = join(work, 'cli');
    assert.match(run('delta', 'keygen', '--out', keys), /cli\.key \(private\), .*cli\.pub \(public\), key [0-9a-f]{16}/);
    const patch = join(work, 'cli.patch');
    const created = run('delta', 'create', OLD, NEW, '--out', patch, '--codec', 'brotli', '--sign-key', `${keys}.key`);
    assert.match(created, /tensors: 3 changed, 0 added, 0 removed, \d+ unchanged/);
    assert.match(created, /files: MODEL\.md, config\.json, dlip\.json changed, NOTES\.md removed/);
    const out = join(work, 'cli-out');
    assert.match(run('delta', 'apply', OLD, patch, '--out', out, '--verify-key', `${keys}.pub`), /verified, signature verified/);
    assert.deepEqual(files(out), files(NEW));
    assert.throws(() => run('delta', 'apply', OTHER, patch, '--out', join(work, 'cli-bad')), /^Error: dlip: .*patch was made for another base: it needs weights with sha256 [0-9a-f]{16}…/);
  });
});

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

async function writeTemp(name: string, bytes: Buffer): Promise<string> {
  const path = join(work, name);
  await writeFile(path, bytes);
  return path;
}
