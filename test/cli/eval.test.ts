// `dlip eval` end to end on the tiny built-in world with a freshly initialised tiny model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';
import { initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { saveModel } from '../../src/io/checkpoint.js';


describe('dlip eval', () => {
  it('scores retrieval and captioning and refuses VQA on a model without an answer decoder', async () => {
    await initBackend('cpu');
    const work = mkdtempSync(join(tmpdir(), 'dlip-eval-'));
    const config = parseBlipConfig({
      image_text_hidden_size: 8,
      vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
      text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 40 },
    }, 'test');
    const model = createModel(config, 'BlipForPreTraining');
    initParameters(model, 1);
    await saveModel(model, join(work, 'model'));
    model.dispose();
    const env = { ...process.env, DLIP_BACKEND: 'wasm', DLIP_CACHE: join(work, 'cache') };
    const run = (extra: string[]) => spawnSync(process.execPath, [BIN, 'eval', '--model', join(work, 'model'), '--world', 'tiny', '--beams', '1', ...extra], { env, encoding: 'utf8' });
    const ok = run(['--json', '--k', '4', '--results', join(work, 'run-')]);
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.retrieval.images, 4);
    assert.equal(report.retrieval.texts, 20);
    for (const k of ['1', '5', '10']) assert.ok(report.retrieval.recall[k] >= 0 && report.retrieval.recall[k] <= 100);
    assert.ok(report.retrieval.recall['10'] >= report.retrieval.recall['1']);
    assert.equal(report.caption.images, 4);
    assert.equal(report.caption.lengths.from, 'manifest'); // the world states lengths that fit its captions
    assert.ok(Number.isFinite(report.caption.cider));
    const coco = JSON.parse(readFileSync(join(work, 'run-caption_results.json'), 'utf8'));
    assert.equal(coco.length, 4);
    assert.deepEqual(Object.keys(coco[0]).sort(), ['caption', 'image_id']);
    const stated = JSON.parse(run(['--json', '--tasks', 'caption', '--max-length', '9', '--min-length', '9']).stdout);
    assert.deepEqual(stated.caption.lengths, { maxLength: 9, minLength: 9, from: 'options' });
    assert.equal(report.caption.prompt, 'a picture of '); // BLIP's, by default
    // A model trained without a prompt is scored without one: every token after [DEC] is generated.
    const bare = JSON.parse(run(['--json', '--tasks', 'caption', '--prompt', '', '--max-length', '9', '--min-length', '9']).stdout);
    assert.equal(bare.caption.prompt, '');
    assert.notDeepEqual(bare.caption.results, stated.caption.results);
    const vqa = run(['--tasks', 'vqa']);
    assert.equal(vqa.status, 1);
    assert.match(vqa.stderr, /VQA needs a VQA model \(BlipForQuestionAnswering\)/);
    const bad = run(['--tasks', 'retrieval,ocr']);
    assert.match(bad.stderr, /unknown task\(s\) ocr/);
  });
});
