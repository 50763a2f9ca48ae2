// Commands that read data, on a data set with one corrupt image: --on-bad-sample fail stops with
// libvips's reason, skip leaves the image out and counts it; --image-size changes the resolution.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';
import { dataDir, manifest } from '../data/helpers.js';

const TINY = {
  image_text_hidden_size: 8,
  vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
  text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 40 },
};

function dlip(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DLIP_BACKEND: 'wasm' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('--on-bad-sample and --image-size', () => {
  const records = [['cat.jpg', 'a cat'], ['coffee.png', 'a cup'], ['astronaut.webp', 'an astronaut'], ['short.jpg', 'a cat cut short'], ['cat2.jpg', 'another cat']];
  const dir = dataDir(
    { 'cat.jpg': 'cat.jpg', 'coffee.png': 'coffee.png', 'astronaut.webp': 'astronaut.webp', 'short.jpg': 'truncated:cat.jpg', 'cat2.jpg': 'cat.jpg' },
    {
      'train.json': records.map(([image, caption]) => ({ image, caption })),
      'test.json': records.map(([image, caption]) => ({ image: image!.replace('cat2', 'cat'), caption: [caption] })).slice(1),
      'dataset.json': manifest({ train: { captions: 'train.json' }, test: { captions: 'test.json' } }),
      'tiny.json': TINY,
    },
  );
  const pretrain = (out: string, ...extra: string[]) =>
    dlip(['pretrain', '--data', dir, '--model', join(dir, 'tiny.json'), '--out', join(dir, out), '--steps', '2', '--batch-size', '2', '--warmup-steps', '1', ...extra]);

  it('pretrain: fail stops with the real cause; skip trains without the image and logs the count', () => {
    const fail = pretrain('fail');
    assert.equal(fail.code, 1);
    assert.match(fail.err, /train\.json: record 3: cannot decode image .*short\.jpg: VipsJpeg: premature end of JPEG image/);
    assert.match(fail.err, /use --on-bad-sample skip/);
    assert.doesNotMatch(fail.err, /Unknown error/);
    const skip = pretrain('skip', '--on-bad-sample', 'skip');
    assert.equal(skip.code, 0, skip.err);
    assert.match(skip.err, /warning: skipped .*short\.jpg: VipsJpeg: premature end of JPEG image/);
    const lines = readFileSync(join(dir, 'skip', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { skipped?: number });
    assert.equal(lines.reduce((n, l) => n + (l.skipped ?? 0), 0), 1);
  });

  it('eval: skip scores the images that decode', () => {
    const model = join(dir, 'skip', 'final');
    const fail = dlip(['eval', '--model', model, '--data', dir, '--tasks', 'retrieval', '--k', '2']);
    assert.equal(fail.code, 1);
    assert.match(fail.err, /short\.jpg: VipsJpeg: premature end of JPEG image/);
    const skip = dlip(['eval', '--model', model, '--data', dir, '--tasks', 'retrieval', '--k', '2', '--json', '--on-bad-sample', 'skip']);
    assert.equal(skip.code, 0, skip.err);
    assert.equal(JSON.parse(skip.out).retrieval.images, 3);
  });

  it('--image-size trains at another resolution, from a config or a checkpoint, and refuses sizes off the patch grid', () => {
    const bad = pretrain('bad-size', '--on-bad-sample', 'skip', '--image-size', '20');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^dlip: --image-size 20 is not a positive multiple of the patch size 8 of .*tiny\.json; try --image-size 24$/m);
    const size = (run: string) => (JSON.parse(readFileSync(join(dir, run, 'final', 'config.json'), 'utf8')) as typeof TINY).vision_config.image_size;
    assert.equal(pretrain('at16', '--on-bad-sample', 'skip', '--image-size', '16').code, 0);
    assert.equal(size('at16'), 16);
    const resized = dlip(['finetune', '--task', 'caption', '--model', join(dir, 'at16', 'final'), '--data', dir, '--out', join(dir, 'at24'), '--steps', '1', '--batch-size', '2', '--on-bad-sample', 'skip', '--image-size', '24']);
    assert.equal(resized.code, 0, resized.err);
    assert.equal(size('at24'), 24);
  });
});
