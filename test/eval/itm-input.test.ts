// The ITM head must be scored at test time on the input it was trained on: BLIP swaps the first
// text token for [ENC] in training (objectives/pretrain.ts) and in its retrieval evaluation.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { initParameters, createRng } from '../../src/nn/init.js';
import { pretrainLosses } from '../../src/objectives/pretrain.js';
import { CLS_ID, DEC_ID, ENC_ID, PAD_ID, defaultTokenizer } from '../../src/data/tokenizer.js';
import { openDataset, synthesizeWorld } from '../../src/data/index.js';
import { evaluateLoaded } from '../../src/eval/run.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

/** Records the distinct first tokens of every image-grounded (ITM) text pass. */
function recordFirstTokens(model: BlipForPreTraining): Set<number> {
  const seen = new Set<number>();
  const forward = model.encodeMultimodal.bind(model);
  model.encodeMultimodal = (ids, ...rest) => {
    for (const id of ids.slice([0, 0], [-1, 1]).dataSync()) seen.add(id);
    return forward(ids, ...rest);
  };
  return seen;
}

describe('ITM input at training and test time', () => {
  it('puts the same first token before the text in the retrieval rerank as in training', async () => {
    const model = createModel(tinyConfig({ vocab: 30524, positions: 40 }), 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 3);
    const tokenizer = defaultTokenizer();

    const trained = recordFirstTokens(model);
    const text = tokenizer.encodeToTensors(['a red circle', 'two blue squares'], { maxLength: 12, padding: 'longest', firstToken: 'cls' });
    const batch = { pixels: tf.randomNormal([2, 3, 8, 8], 0, 1, 'float32', 4), inputIds: text.inputIds, attentionMask: text.attentionMask, imageIds: [0, 1] };
    const options = { weights: { itc: 0, itm: 1, lm: 0 }, alpha: 0, encTokenId: ENC_ID, decTokenId: DEC_ID, padTokenId: PAD_ID, labelSmoothing: 0.1 };
    tf.tidy(() => pretrainLosses(model, batch, options, undefined, createRng(1)).total);
    assert.deepEqual([...trained], [ENC_ID]);

    const dir = mkdtempSync(join(tmpdir(), 'dlip-itm-input-'));
    await synthesizeWorld({ out: dir, sizes: { train: 1, val: 1, test: 2 }, seed: 1 });
    const dataset = openDataset(dir);
    const evaluated = recordFirstTokens(model);
    await evaluateLoaded(model, 'tiny', dataset, { split: 'test', tasks: ['retrieval'], k: 3 });
    assert.deepEqual([...evaluated], [...trained]);

    const huggingFace = recordFirstTokens(model);
    await evaluateLoaded(model, 'tiny', dataset, { split: 'test', tasks: ['retrieval'], k: 3, itmFirstToken: 'cls' });
    assert.deepEqual([...huggingFace], [CLS_ID]);
    model.dispose();
  });
});
