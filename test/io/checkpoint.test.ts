import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { readHeader, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { BlipForImageTextRetrieval } from '../../src/models/blip.js';
import { createModel } from '../../src/models/blip.js';
import { applyWeights } from '../../src/io/weights.js';
import { initParameters } from '../../src/nn/init.js';
import { assertClose, FIXTURE_DIR, toTensor } from '../helpers/fixtures.js';
import { tinyConfig } from '../helpers/tiny.js';
import { BIN } from '../helpers/bin.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'dlip-ckpt-'));

before(async () => {
  await initBackend('cpu');
});

function hfFolder(task: string, set = ''): string {
  const dir = tmp();
  copyFileSync(join(FIXTURE_DIR, `${task}_config.json`), join(dir, 'config.json'));
  copyFileSync(join(FIXTURE_DIR, `${task}${set}_weights.safetensors`), join(dir, 'model.safetensors'));
  return dir;
}

describe('checkpoints', () => {
  it('loads a Hugging Face folder and reproduces its ITM logits', async () => {
    const { model, manifest } = await loadModel(hfFolder('retrieval', '_large'));
    assert.equal(manifest, undefined);
    const ref = await readSafetensors(join(FIXTURE_DIR, 'retrieval_large_outputs.safetensors'));
    const m = model as BlipForImageTextRetrieval;
    tf.tidy(() => {
      const image = m.encodeImage(toTensor(ref.get('inputs.pixel_values'))).lastHiddenState;
      const states = m.encodeMultimodal(toTensor(ref.get('inputs.input_ids')), toTensor(ref.get('inputs.attention_mask')), image).lastHiddenState;
      assertClose(m.itmLogits(states), ref.get('itm.itm_score'), 'itm_score');
    });
    model.dispose();
  });

  it('loads sharded folders through model.safetensors.index.json', async () => {
    const dir = tmp();
    copyFileSync(join(FIXTURE_DIR, 'captioning_config.json'), join(dir, 'config.json'));
    const all = await readSafetensors(join(FIXTURE_DIR, 'captioning_weights.safetensors'));
    const shards = [new Map(), new Map()] as Map<string, { shape: number[]; data: Float32Array }>[];
    const weightMap: Record<string, string> = {};
    [...all].forEach(([k, v], i) => {
      shards[i % 2]!.set(k, { shape: v.shape, data: v.data as Float32Array });
      weightMap[k] = `model-0000${(i % 2) + 1}-of-00002.safetensors`;
    });
    await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), shards[0]!);
    await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), shards[1]!);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const { model, report } = await loadModel(dir);
    assert.equal(model.architecture, 'BlipForConditionalGeneration');
    assert.equal(report.loaded.length, model.namedParameters().size);
    model.dispose();
  });

  it('saves a dlip checkpoint that loads back bit for bit, and detects corruption', async () => {
    const model = createModel(tinyConfig(), 'BlipForPreTraining');
    initParameters(model, 11);
    const dir = tmp();
    const manifest = await saveModel(model, dir);
    assert.equal(manifest.architecture, 'BlipForPreTraining');
    assert.equal(manifest.parameters, model.parameterCount());
    const { model: back } = await loadModel(dir);
    const a = model.namedParameters();
    for (const [k, p] of back.namedParameters()) assert.deepEqual(p.value.dataSync(), a.get(k)!.value.dataSync(), k);
    back.dispose();
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    await assert.rejects(loadModel(dir), /model\.safetensors: sha256 .* does not match the manifest/);
    model.dispose();
  });

  it('exports a model in F16 with `dlip export weights`: half the file, values within half precision', async () => {
    const model = createModel(tinyConfig(), 'BlipForPreTraining');
    initParameters(model, 12);
    const source = tmp();
    await saveModel(model, source);
    const out = join(tmp(), 'half');
    const stdout = execFileSync(process.execPath, [BIN, 'export', 'weights', '--model', source, '--out', out, '--dtype', 'f16'], { encoding: 'utf8' });
    assert.match(stdout, /BlipForPreTraining, .* parameters in F16/);
    const dataBytes = async (d: string) => statSync(join(d, 'model.safetensors')).size - (await readHeader(join(d, 'model.safetensors'))).dataStart;
    assert.equal(await dataBytes(out), (await dataBytes(source)) / 2);
    const { model: back } = await loadModel(out); // the manifest's sha256 is of the F16 file
    const a = model.namedParameters();
    for (const [k, p] of back.namedParameters()) {
      const [want, got] = [a.get(k)!.value.dataSync(), p.value.dataSync()];
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 2 ** -11 * Math.abs(want[i]!) + 2 ** -24, `${k}[${i}]: ${got[i]} vs ${want[i]}`);
    }
    back.dispose();
    model.dispose();
  });

  it('reports missing, unexpected and mis-shaped keys together, and allows partial loads on request', async () => {
    const weights = await readSafetensors(join(FIXTURE_DIR, 'retrieval_weights.safetensors'));
    weights.delete('itm_head.bias');
    weights.delete('text_proj.weight');
    weights.set('extra.thing', { dtype: 'F32', shape: [3], data: new Float32Array(3) });
    weights.set('text_encoder.embeddings.position_ids', { dtype: 'I64', shape: [1, 64], data: new BigInt64Array(64) });
    weights.set('vision_proj.bias', { dtype: 'F32', shape: [5], data: new Float32Array(5) });
    const config = JSON.parse(readFileSync(join(FIXTURE_DIR, 'retrieval_config.json'), 'utf8'));
    const { parseBlipConfig } = await import('../../src/models/config.js');
    const model = createModel(parseBlipConfig(config, 'fixture'), 'BlipForImageTextRetrieval');
    assert.throws(
      () => applyWeights(model, weights, { source: 'test.safetensors' }),
      (err: Error) =>
        /test\.safetensors/.test(err.message) &&
        /mis-shaped \(1\):\n  vision_proj\.bias: checkpoint \[5\], model \[16\]/.test(err.message) &&
        /missing \(3\)/.test(err.message) &&
        /itm_head\.bias \[2\]/.test(err.message) &&
        /text_proj\.weight \[16,32\]/.test(err.message) &&
        /unexpected \(1\):\n  extra\.thing \[3\]/.test(err.message),
    );
    weights.delete('vision_proj.bias');
    const report = applyWeights(model, weights, { partial: true });
    assert.deepEqual(report.missing.sort(), ['itm_head.bias', 'text_proj.weight', 'vision_proj.bias']);
    assert.deepEqual(report.unexpected, ['extra.thing']);
    assert.deepEqual(report.ignored, ['text_encoder.embeddings.position_ids']);
    model.dispose();
  });

  it('resizes the position grid when the checkpoint was trained at another resolution', async () => {
    const small = createModel(tinyConfig({ imageSize: 8 }), 'BlipForImageTextRetrieval');
    initParameters(small, 5);
    const dir = tmp();
    await saveModel(small, dir);
    const weights = await readSafetensors(join(dir, 'model.safetensors'));
    const large = createModel(tinyConfig({ imageSize: 16 }), 'BlipForImageTextRetrieval');
    const report = applyWeights(large, weights);
    assert.deepEqual(report.resized, ['vision_model.embeddings.position_embedding: [1,5,8] → [1,17,8]']);
    const pos = large.namedParameters().get('vision_model.embeddings.position_embedding')!.value;
    const old = small.namedParameters().get('vision_model.embeddings.position_embedding')!.value;
    assert.deepEqual(Array.from(pos.dataSync().slice(0, 8)), Array.from(old.dataSync().slice(0, 8)), 'CLS position kept');
    small.dispose();
    large.dispose();
  });
});
