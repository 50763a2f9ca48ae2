import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipForPreTraining, BlipForQuestionAnswering } from '../../src/models/blip.js';
import { taskModelFrom } from '../../src/models/convert.js';
import { initParameters } from '../../src/nn/init.js';
import { finetune } from '../../src/train/finetune.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { parseBlipConfig } from '../../src/models/config.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('wasm');
});

describe('task models from a pre-training model', () => {
  it('reproduce the composite: captions, similarities and the VQA decoder', () => {
    const pre = createModel(tinyConfig(), 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(pre, 6);
    const caption = taskModelFrom(pre, 'BlipForConditionalGeneration') as BlipForConditionalGeneration;
    const retrieval = taskModelFrom(pre, 'BlipForImageTextRetrieval') as BlipForImageTextRetrieval;
    const vqa = taskModelFrom(pre, 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
    tf.tidy(() => {
      const ids = tf.tensor2d([[1, 4, 7, 9, 2]], [1, 5], 'int32');
      const mask = tf.ones([1, 5], 'int32');
      const image = pre.encodeImage(tf.randomNormal([1, 3, 8, 8], 0, 1, 'float32', 2)).lastHiddenState;
      const same = (a: tf.Tensor, b: tf.Tensor) => assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
      same(caption.decode(ids, mask, image).logits, pre.decode(ids, mask, image).logits);
      same(retrieval.similarity(image, retrieval.encodeText(ids, mask).lastHiddenState), pre.similarity(image, pre.encodeText(ids, mask).lastHiddenState));
      same(vqa.decodeAnswer(ids, mask, image, tf.ones([1, 5])).logits, pre.decode(ids, mask, image).logits);
    });
    [pre, caption, retrieval, vqa].forEach((m) => m.dispose());
  });
});

describe('dlip finetune', () => {
  it('trains the captioner and a VQA model from a pre-training checkpoint, and exports each', async () => {
    const work = mkdtempSync(join(tmpdir(), 'dlip-ft-'));
    process.env.DLIP_CACHE = join(work, 'cache');
    const modelFile = join(work, 'micro.json');
    writeFileSync(modelFile, JSON.stringify({
      image_text_hidden_size: 8,
      vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
      text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 40 },
    }));
    const result = await finetune({ task: 'caption', model: modelFile, out: join(work, 'run'), world: 'tiny', steps: 2, batchSize: 4, warmupSteps: 1, queueSize: 0 });
    const { model } = await loadModel(result.modelDir);
    assert.equal(model.architecture, 'BlipForConditionalGeneration');
    model.dispose();
    const pre = createModel(parseBlipConfig(JSON.parse(readFileSync(modelFile, 'utf8')), 'micro'), 'BlipForPreTraining');
    initParameters(pre, 2);
    await saveModel(pre, join(work, 'pre'));
    pre.dispose();
    const vqa = await finetune({ task: 'vqa', model: join(work, 'pre'), out: join(work, 'vqa'), world: 'tiny', steps: 2, batchSize: 4, warmupSteps: 1, evalImages: 4 });
    const { model: answerer } = await loadModel(vqa.modelDir);
    assert.equal(answerer.architecture, 'BlipForQuestionAnswering');
    answerer.dispose();
    const log = readFileSync(join(work, 'vqa', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(log.some((e) => e.eval && Number.isFinite(e.eval.accuracy)), 'validation VQA accuracy logged');
    assert.ok(log.some((e) => Number.isFinite(e.terms?.vqa) && e.terms.vqa > 0), 'VQA loss logged');
    await assert.rejects(finetune({ task: 'ocr', model: modelFile, out: join(work, 'x') }), /--task ocr is not supported; fine-tuning covers retrieval, caption, vqa/);
  });
});
