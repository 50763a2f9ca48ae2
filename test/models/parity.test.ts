// The BLIP port against the Hugging Face reference outputs (both weight sets, every backend).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { applyWeights } from '../../src/io/weights.js';
import { BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipForQuestionAnswering, createModel } from '../../src/models/blip.js';
import type { Architecture } from '../../src/models/config.js';
import { captionLoss } from '../../src/objectives/lm.js';
import type { LoadedTensor } from '../../src/io/safetensors.js';
import { assertClose, fixtureConfig, fixtureOutputs, fixtureWeights, toTensor, WEIGHT_SETS } from '../helpers/fixtures.js';
import type { FixtureTask } from '../helpers/fixtures.js';

import { loadAddon } from '../../src/engine/native/addon.js';

// native joins wherever its addon is built (CI requires it to be).
const BACKENDS = ['cpu', 'wasm', ...(loadAddon().ok ? (['native'] as const) : [])] as const;

function checkList(actual: tf.Tensor[] | undefined, ref: Map<string, LoadedTensor>, prefix: string, count: number): void {
  assert.equal(actual?.length, count, `${prefix}: count`);
  actual!.forEach((t, i) => assertClose(t, ref.get(`${prefix}.${i}`), `${prefix}.${i}`));
}

async function load<M>(task: FixtureTask, arch: Architecture, set: string): Promise<{ model: M; ref: Map<string, LoadedTensor> }> {
  const model = createModel(fixtureConfig(task), arch);
  applyWeights(model, await fixtureWeights(task, set), { source: `${task}${set}` });
  return { model: model as M, ref: await fixtureOutputs(task, set) };
}

for (const backend of BACKENDS) {
  for (const set of WEIGHT_SETS) {
    describe(`HF parity [${backend}] weights${set || '_std0.02'}`, () => {
      before(async () => {
        await initBackend(backend);
      });

      it('retrieval: vision states, ITM logits, similarity, text states and attentions', async () => {
        const { model, ref } = await load<BlipForImageTextRetrieval>('retrieval', 'BlipForImageTextRetrieval', set);
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const ids = toTensor(ref.get('inputs.input_ids'));
          const mask = toTensor(ref.get('inputs.attention_mask'));
          const vision = model.encodeImage(toTensor(ref.get('inputs.pixel_values')), { outputHiddenStates: true, outputAttentions: true });
          assertClose(vision.lastHiddenState, ref.get('itm.vision_last_hidden_state'), 'vision_last_hidden_state');
          checkList(vision.hiddenStates, ref, 'itm.vision_hidden_states', 3);
          checkList(vision.attentions, ref, 'itm.vision_attentions', 2);
          assertClose(model.visionModel.pooledOutput(vision.lastHiddenState), ref.get('vision.pooler_output'), 'pooler_output');

          const mm = model.encodeMultimodal(ids, mask, vision.lastHiddenState, { outputHiddenStates: true, outputAttentions: true });
          assertClose(mm.lastHiddenState, ref.get('itm.question_embeds'), 'itm.question_embeds');
          assertClose(model.itmLogits(mm.lastHiddenState), ref.get('itm.itm_score'), 'itm_score');
          checkList(mm.hiddenStates, ref, 'text_mm.hidden_states', 3);
          checkList(mm.attentions, ref, 'text_mm.attentions', 2);
          checkList(mm.crossAttentions, ref, 'text_mm.cross_attentions', 2);

          const uni = model.encodeText(ids, mask, { outputHiddenStates: true, outputAttentions: true });
          assertClose(uni.lastHiddenState, ref.get('sim.question_embeds'), 'sim.question_embeds');
          checkList(uni.hiddenStates, ref, 'text_uni.hidden_states', 3);
          checkList(uni.attentions, ref, 'text_uni.attentions', 2);
          assert.equal(uni.crossAttentions, undefined);
          assertClose(model.imageProjection(vision.lastHiddenState), ref.get('sim.vision_proj'), 'vision_proj');
          assertClose(model.textProjection(uni.lastHiddenState), ref.get('sim.text_proj'), 'text_proj');
          assertClose(model.similarity(vision.lastHiddenState, uni.lastHiddenState), ref.get('sim.itm_score'), 'similarity');
        });
        assert.equal(tf.memory().numTensors, before, 'forward leaked tensors');
        model.dispose();
      });

      it('captioning: decoder logits, states, attentions and smoothed loss', async () => {
        const { model, ref } = await load<BlipForConditionalGeneration>('captioning', 'BlipForConditionalGeneration', set);
        tf.tidy(() => {
          const ids = toTensor(ref.get('inputs.input_ids'));
          const mask = toTensor(ref.get('inputs.attention_mask'));
          const image = model.encodeImage(toTensor(ref.get('inputs.pixel_values')), { outputHiddenStates: true });
          assertClose(image.lastHiddenState, ref.get('fwd.vision_last_hidden_state'), 'vision_last_hidden_state');
          checkList(image.hiddenStates, ref, 'fwd.vision_hidden_states', 3);
          const dec = model.decode(ids, mask, image.lastHiddenState, { outputHiddenStates: true, outputAttentions: true });
          assertClose(dec.logits, ref.get('fwd.logits'), 'logits');
          checkList(dec.hiddenStates, ref, 'dec.hidden_states', 3);
          checkList(dec.attentions, ref, 'dec.attentions', 2);
          checkList(dec.crossAttentions, ref, 'dec.cross_attentions', 2);
          const loss = captionLoss(dec.logits, toTensor(ref.get('inputs.labels')), 0.1);
          assertClose(loss.reshape([1]), ref.get('fwd_labels.loss'), 'loss');
        });
        model.dispose();
      });

      it('vqa: question states, answer decoder logits and loss', async () => {
        const { model, ref } = await load<BlipForQuestionAnswering>('vqa', 'BlipForQuestionAnswering', set);
        tf.tidy(() => {
          const ids = toTensor(ref.get('inputs.input_ids'));
          const mask = toTensor(ref.get('inputs.attention_mask'));
          const image = model.encodeImage(toTensor(ref.get('inputs.pixel_values')), { outputAttentions: true });
          checkList(image.attentions, ref, 'fwd.vision_attentions', 2);
          const question = model.encodeQuestion(ids, mask, image.lastHiddenState, { outputHiddenStates: true, outputAttentions: true });
          assertClose(question.lastHiddenState, ref.get('fwd.question_embeds'), 'question_embeds');
          checkList(question.hiddenStates, ref, 'enc.hidden_states', 3);
          checkList(question.attentions, ref, 'enc.attentions', 2);
          checkList(question.crossAttentions, ref, 'enc.cross_attentions', 2);
          const answer = model.decodeAnswer(
            toTensor(ref.get('inputs.decoder_input_ids')),
            toTensor(ref.get('inputs.decoder_attention_mask')),
            question.lastHiddenState,
            mask,
            { outputHiddenStates: true, outputAttentions: true },
          );
          assertClose(answer.logits, ref.get('fwd.decoder_logits'), 'decoder_logits');
          checkList(answer.hiddenStates, ref, 'dec.hidden_states', 3);
          checkList(answer.attentions, ref, 'dec.attentions', 2);
          checkList(answer.crossAttentions, ref, 'dec.cross_attentions', 2);
          const loss = captionLoss(answer.logits, toTensor(ref.get('inputs.decoder_labels')), 0.1);
          assertClose(loss.reshape([1]), ref.get('fwd.loss'), 'loss');
        });
        model.dispose();
      });
    });
  }
}

