// Pre-training and VQA fine-tuning on data without a val split: they train to the end, say once that
// nothing is validated, and save their models.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { builtinWorld } from '../../src/data/world/synth.js';
import { evaluateModel } from '../../src/eval/run.js';
import { finetune } from '../../src/train/finetune.js';
import { pretrain } from '../../src/train/pretrain.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-pretrain-'));
const modelFile = join(work, 'micro.json');
let noVal: string;

before(async () => {
  await initBackend('cpu');
  process.env.DLIP_CACHE = join(work, 'cache');
  writeFileSync(modelFile, JSON.stringify({
    image_text_hidden_size: 8,
    vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
    text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 40 },
  }));
  // The tiny world's manifest without its val split (paths made absolute, so it can live elsewhere).
  const manifestPath = await builtinWorld('tiny', 0);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const at = (p: string) => resolve(dirname(manifestPath), p);
  delete manifest.splits.val;
  manifest.imageRoot = at(manifest.imageRoot ?? '.');
  if (manifest.answerList) manifest.answerList = at(manifest.answerList);
  for (const split of Object.values(manifest.splits) as Record<string, unknown>[]) {
    if (typeof split.captions === 'string') split.captions = at(split.captions);
    if (typeof split.hardNegatives === 'string') split.hardNegatives = at(split.hardNegatives);
    const vqa = split.vqa as Record<string, string> | undefined;
    if (vqa) for (const k of ['questions', 'annotations'] as const) if (vqa[k]) vqa[k] = at(vqa[k]);
  }
  noVal = join(work, 'no-val.json');
  writeFileSync(noVal, JSON.stringify(manifest));
});

describe('training without a val split', () => {
  it('pre-trains and fine-tunes VQA to the end with one warning each', async () => {
    const warnings: string[] = [];
    const onWarning = (m: string) => warnings.push(m);
    const out = join(work, 'pretrain');
    const result = await pretrain({ model: modelFile, data: noVal, out, steps: 2, batchSize: 4, warmupSteps: 0, evalEvery: 1 }, { onWarning });
    assert.equal(result.steps, 2);
    assert.ok(existsSync(join(out, 'final', 'dlip.json')), 'final/ was not saved');
    assert.equal(result.best, undefined);
    assert.deepEqual(warnings, [`${noVal} has no "val" split with captions: the run is not validated and keeps no best/ model`]);

    warnings.length = 0;
    const vqa = await finetune({ task: 'vqa', model: result.finalDir, data: noVal, out: join(work, 'vqa'), steps: 1, batchSize: 4, warmupSteps: 0 }, { onWarning });
    assert.ok(existsSync(join(vqa.modelDir, 'dlip.json')), 'the VQA model was not exported');
    assert.deepEqual(warnings, [`${noVal} has no "val" split with VQA questions: the run is not validated and keeps no best/ model`]);
  });

  it('records the caption prompt each model was trained with, and eval captions after it', async () => {
    const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'dlip.json'), 'utf8'));
    const pre = join(work, 'pretrain', 'final');
    assert.equal(manifest(pre).captionPrompt, '', 'pre-training trains without a prompt');
    const captioner = await finetune({ task: 'caption', model: pre, data: noVal, out: join(work, 'caption'), steps: 1, batchSize: 4, warmupSteps: 0 }, { onWarning: () => undefined });
    assert.equal(manifest(captioner.modelDir).captionPrompt, 'a picture of ');
    assert.equal(manifest(join(work, 'vqa', 'model')).captionPrompt, undefined, 'a VQA model has no caption decoder');
    const scored = (model: string, prompt?: string) => evaluateModel(model, { data: noVal, tasks: ['caption'], split: 'test', limit: 2, prompt }).then((r) => r.caption!.prompt);
    assert.equal(await scored(pre), '');
    assert.equal(await scored(captioner.modelDir), 'a picture of ');
    assert.equal(await scored(pre, 'a photo of '), 'a photo of ', '--prompt overrides the record');
  });
});
