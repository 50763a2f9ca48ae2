// `dlip export onnx` end to end: the folder a consumer gets (graphs, tokenizer, config, manifest),
// each graph loadable by onnxruntime with the inputs and outputs the manifest documents.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';
import { tinyConfig } from '../helpers/tiny.js';
import { initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { BlipTokenizer } from '../../src/data/tokenizer.js';
import type { OnnxManifest } from '../../src/onnx/export.js';
import { OnnxSession } from '../../src/onnx/session.js';

describe('dlip export onnx', () => {
  it('writes every graph of a pre-training model with tokenizer, config and a manifest that matches the graphs', async () => {
    await initBackend('cpu');
    const work = mkdtempSync(join(tmpdir(), 'dlip-onnx-'));
    const model = createModel(tinyConfig({ imageSize: 16 }), 'BlipForPreTraining');
    initParameters(model, 3);
    await saveModel(model, join(work, 'model'));
    model.dispose();
    const out = join(work, 'onnx');
    const run = spawnSync(process.execPath, [BIN, 'export', 'onnx', '--model', join(work, 'model'), '--out', out], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /BlipForPreTraining, 5 graphs \(float\), opset 17/);

    const manifest = JSON.parse(readFileSync(join(out, 'onnx_config.json'), 'utf8')) as OnnxManifest;
    assert.equal(manifest.format, 'dlip-onnx');
    assert.equal(manifest.opset, 17);
    assert.deepEqual(Object.keys(manifest.graphs), ['image_encoder', 'text_encoder', 'itm', 'caption_cross_kv', 'caption_decoder']);
    assert.equal(manifest.image.size, 16);
    for (const [name, entry] of Object.entries(manifest.graphs)) {
      assert.equal(statSync(join(out, entry.file)).size, entry.bytes, `${name}: size`);
      const session = await OnnxSession.open(join(out, entry.file));
      assert.deepEqual(session.inputNames, entry.inputs.map((i) => i.name), `${name}: inputs`);
      assert.deepEqual(session.outputNames, entry.outputs.map((o) => o.name), `${name}: outputs`);
      await session.close();
    }
    const decoder = manifest.graphs.caption_decoder!;
    assert.deepEqual(decoder.inputs.find((i) => i.name === 'past_key_values.1.value')?.dims, ['batch', 2, 'past_sequence', 4]);
    assert.deepEqual(decoder.inputs.find((i) => i.name === 'cross_key_values.0.key')?.dims, ['batch', 2, 'encoder_sequence', 4]);
    assert.deepEqual(manifest.graphs.caption_cross_kv!.outputs.map((o) => o.name), ['cross_key_values.0.key', 'cross_key_values.0.value', 'cross_key_values.1.key', 'cross_key_values.1.value']);
    assert.deepEqual(manifest.graphs.text_encoder!.inputs[0]!.dims, ['batch', 'sequence']);

    // The tokenizer files beside the graphs reproduce dlip's tokenizer.
    assert.ok(existsSync(join(out, 'tokenizer.json')) && existsSync(join(out, 'vocab.txt')) && existsSync(join(out, 'config.json')));
    assert.deepEqual(new BlipTokenizer(join(out, 'vocab.txt')).encodeOne('a red circle'), new BlipTokenizer().encodeOne('a red circle'));
    const tokenizerJson = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    assert.equal(tokenizerJson.model.vocab['[ENC]'], 30523);

    const wrong = spawnSync(process.execPath, [BIN, 'export', 'onnx', '--model', join(work, 'model'), '--out', join(work, 'x'), '--graphs', 'answer_decoder'], { encoding: 'utf8' });
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /BlipForPreTraining has no answer_decoder graph; it exports image_encoder, text_encoder, itm, caption_cross_kv, caption_decoder/);
  });
});
