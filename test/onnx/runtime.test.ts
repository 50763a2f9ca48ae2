// `dlip eval --runtime onnx`: the same scores, captions and answers as the TypeScript model, through
// the graphs in onnxruntime (retrieval with ITM rerank, beam-search captions on the cached decoder
// graph, VQA answer ranking), on the tiny built-in world.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import type { Architecture } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { evaluateModel } from '../../src/eval/run.js';
import type { EvalOptions } from '../../src/eval/run.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-onnx-eval-'));

async function tinyModel(architecture: Architecture, seed: number): Promise<string> {
  const config = parseBlipConfig({
    image_text_hidden_size: 8,
    vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
    text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 40 },
  }, 'test');
  const model = createModel(config, architecture);
  initParameters(model, seed);
  const dir = join(work, architecture);
  await saveModel(model, dir);
  model.dispose();
  return dir;
}

describe('dlip eval --runtime onnx', () => {
  before(async () => {
    process.env.DLIP_CACHE = join(work, 'cache');
    await initBackend();
  });

  it('retrieval and beam-search captions equal the TypeScript model\'s', async () => {
    const dir = await tinyModel('BlipForPreTraining', 2);
    const o: EvalOptions = { world: 'tiny', tasks: ['retrieval', 'caption'], k: 4, numBeams: 3, limit: 6 };
    const ts = await evaluateModel(dir, o);
    const onnx = await evaluateModel(dir, { ...o, runtime: 'onnx' });
    assert.equal(onnx.runtime, 'onnx');
    assert.equal(ts.runtime, undefined);
    assert.deepEqual(onnx.retrieval, ts.retrieval);
    assert.deepEqual(onnx.caption!.results, ts.caption!.results);
    assert.ok(ts.caption!.results.some((r) => r.caption.length > 0), 'captions are empty: nothing was compared');
    assert.equal(onnx.caption!.cider, ts.caption!.cider);
  });

  it('VQA answers equal the TypeScript model\'s, and int8 runs the same protocol', async () => {
    const dir = await tinyModel('BlipForQuestionAnswering', 4);
    const o: EvalOptions = { world: 'tiny', tasks: ['vqa'], limit: 12, vqaK: 8 };
    const ts = await evaluateModel(dir, o);
    const onnx = await evaluateModel(dir, { ...o, runtime: 'onnx' });
    assert.equal(onnx.vqa!.questions, 12);
    assert.deepEqual(onnx.vqa!.results, ts.vqa!.results);
    const int8 = await evaluateModel(dir, { ...o, runtime: 'onnx', quantize: 'int8' });
    assert.equal(int8.runtime, 'onnx int8');
    assert.equal(int8.vqa!.questions, 12);
  });
});
