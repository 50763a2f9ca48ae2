// The key/value-cached decoder on the hf-blip-tiny fixtures (both weight sets): stepping one token at a
// time reproduces the Hugging Face teacher-forced logits, and greedy and beam search give the same
// tokens and scores with the cache as without it, for captions and VQA answers.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { loadAddon } from '../../src/engine/native/addon.js';
import { applyWeights } from '../../src/io/weights.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForConditionalGeneration, BlipForQuestionAnswering, TextDecoder } from '../../src/models/blip.js';
import type { Architecture } from '../../src/models/config.js';
import { beamSearch, cachedDecoder, captionDecoder, generate, generateCaptions, generateVqaAnswers, answerDecoder, encodeQuestions } from '../../src/eval/index.js';
import type { CachedDecoder, GenerateOptions, GeneratedSequence } from '../../src/eval/index.js';
import type { LoadedTensor } from '../../src/io/safetensors.js';
import { assertClose, fixtureConfig, fixtureOutputs, fixtureWeights, toTensor, WEIGHT_SETS } from '../helpers/fixtures.js';
import type { FixtureTask } from '../helpers/fixtures.js';

const BACKENDS = ['cpu', ...(loadAddon().ok ? (['native'] as const) : [])] as const;

async function load<M>(task: FixtureTask, arch: Architecture, set: string): Promise<{ model: M; ref: Map<string, LoadedTensor> }> {
  const model = createModel(fixtureConfig(task), arch);
  applyWeights(model, await fixtureWeights(task, set), { source: `${task}${set}` });
  return { model: model as M, ref: await fixtureOutputs(task, set) };
}

/** Position t of a reference [B, T, vocab] tensor, rows `rows`, as [rows, vocab]. */
function refAt(ref: LoadedTensor, t: number, rows: number[]): LoadedTensor {
  assert.equal(ref.dtype, 'F32');
  const [, T, vocab] = ref.shape as [number, number, number];
  const source = ref.data as Float32Array;
  const data = new Float32Array(rows.length * vocab);
  rows.forEach((b, i) => data.set(source.subarray((b * T + t) * vocab, (b * T + t + 1) * vocab), i * vocab));
  return { dtype: 'F32', shape: [rows.length, vocab], data };
}

/**
 * Feeds the fixture's token rows to a cached decoder: the first `prefix` tokens at once, then one per
 * step, comparing each step's logits with the HF teacher-forced ones while the row is unpadded.
 */
function checkAgainstReference(cache: CachedDecoder, ids: number[][], mask: number[][], ref: LoadedTensor, prefix: number, name: string): void {
  const rows = ids.map((_, b) => b);
  const compare = (logits: tf.Tensor, t: number, live: number[]) => {
    const picked = tf.gather(logits, live.map((b) => rows.indexOf(b)));
    assertClose(picked, refAt(ref, t, live), `${name} position ${t}`);
    tf.dispose([logits, picked]);
  };
  compare(cache.start(ids.map((r) => r.slice(0, prefix)), rows), prefix - 1, rows);
  for (let t = prefix; t < ids[0]!.length; t++) {
    const live = rows.filter((b) => mask[b]![t] === 1);
    compare(cache.step(rows.map((b) => ids[b]![t]!), rows), t, live);
  }
}

/** Same tokens; scores and log-probabilities within 1e-5. */
function assertSameGenerations(cached: GeneratedSequence[], full: GeneratedSequence[], name: string): void {
  assert.deepEqual(cached.map((g) => g.tokens), full.map((g) => g.tokens), `${name}: tokens`);
  cached.forEach((g, i) => {
    assert.ok(Math.abs(g.score - full[i]!.score) <= 1e-5, `${name} #${i}: score ${g.score} vs ${full[i]!.score}`);
    assert.ok(Math.abs(g.logProb - full[i]!.logProb) <= 1e-5, `${name} #${i}: logProb ${g.logProb} vs ${full[i]!.logProb}`);
  });
}

/** Wraps a cached decoder to record the parents of every step. */
function recording(inner: CachedDecoder, steps: number[][]): CachedDecoder {
  return {
    start: (prefix, rows) => inner.start(prefix, rows),
    step: (tokens, parents) => {
      steps.push([...parents]);
      return inner.step(tokens, parents);
    },
    dispose: () => inner.dispose(),
  };
}

/** Raises the LM bias of `token` so sequences end early and at different steps (restore with the returned copy). */
function boost(decoder: TextDecoder, token: number, by: number): Float32Array {
  const bias = decoder.cls.predictions.bias;
  const original = Float32Array.from(bias.value.dataSync());
  const raised = Float32Array.from(original);
  raised[token] += by;
  bias.assign(raised);
  return original;
}

/** Images: the fixture's two plus two seeded random ones, so inputs finish at different steps. */
function pixels(ref: Map<string, LoadedTensor>): tf.Tensor {
  return tf.tidy(() => tf.concat([toTensor(ref.get('inputs.pixel_values')), tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 7)]));
}

for (const backend of BACKENDS) {
  for (const set of WEIGHT_SETS) {
    describe(`KV cache [${backend}] weights${set || '_std0.02'}`, () => {
      before(async () => {
        await initBackend(backend);
      });

      it('caption decoder: one token a step reproduces the HF teacher-forced logits, from a 1- or 3-token start', async () => {
        const { model, ref } = await load<BlipForConditionalGeneration>('captioning', 'BlipForConditionalGeneration', set);
        const ids = toTensor(ref.get('inputs.input_ids')).arraySync() as number[][];
        const mask = toTensor(ref.get('inputs.attention_mask')).arraySync() as number[][];
        const embeds = tf.tidy(() => model.encodeImage(toTensor(ref.get('inputs.pixel_values'))).lastHiddenState);
        const before = tf.memory().numTensors;
        for (const prefix of [1, 3]) {
          const cache = cachedDecoder(model.textDecoder, embeds);
          checkAgainstReference(cache, ids, mask, ref.get('fwd.logits')!, prefix, `caption logits (prefix ${prefix})`);
          cache.dispose();
        }
        assert.equal(tf.memory().numTensors, before, 'the cache leaked tensors');
        embeds.dispose();
        model.dispose();
      });

      it('answer decoder: one token a step over masked question states reproduces the HF logits', async () => {
        const { model, ref } = await load<BlipForQuestionAnswering>('vqa', 'BlipForQuestionAnswering', set);
        const ids = toTensor(ref.get('inputs.decoder_input_ids')).arraySync() as number[][];
        const mask = toTensor(ref.get('inputs.decoder_attention_mask')).arraySync() as number[][];
        const questionMask = toTensor(ref.get('inputs.attention_mask'));
        const states = encodeQuestions(model, toTensor(ref.get('inputs.pixel_values')), toTensor(ref.get('inputs.input_ids')), questionMask);
        const cache = cachedDecoder(model.textDecoder, states, questionMask);
        checkAgainstReference(cache, ids, mask, ref.get('fwd.decoder_logits')!, 1, 'answer logits');
        cache.dispose();
        tf.dispose([states, questionMask]);
        model.dispose();
      });

      it('captions: greedy and beam 3 give the same tokens and scores with the cache, reordering and dropping beams', async () => {
        const { model, ref } = await load<BlipForConditionalGeneration>('captioning', 'BlipForConditionalGeneration', set);
        const px = pixels(ref);
        const embeds = tf.tidy(() => model.encodeImage(px).lastHiddenState);
        const eos = model.config.text_config.sep_token_id;
        const steps: number[][] = [];
        const before = tf.memory().numTensors;
        for (const eosBoost of [0, 3]) {
          const original = boost(model.textDecoder, eos, eosBoost);
          for (const numBeams of [1, 3]) {
            const options: GenerateOptions = { bosTokenId: 1, eosTokenId: eos, prompt: [5, 9, 17], maxLength: 14, minLength: 5, numBeams, repetitionPenalty: numBeams === 3 ? 1 : 1.3 };
            const name = `beams ${numBeams}, EOS +${eosBoost}`;
            const full = generate(captionDecoder(model, embeds), 4, options);
            const cache = recording(cachedDecoder(model.textDecoder, embeds), steps);
            assertSameGenerations(generate(cache, 4, options), full, name);
            cache.dispose();
            // The library's default path (generateCaptions) is the cached one, and agrees too.
            assertSameGenerations(generateCaptions(model, px, options), full, `${name}, generateCaptions`);
            assertSameGenerations(generateCaptions(model, px, { ...options, kvCache: false }), full, `${name}, generateCaptions without cache`);
          }
          model.textDecoder.cls.predictions.bias.assign(original);
        }
        assert.equal(tf.memory().numTensors, before, 'generation leaked tensors');
        // The comparison covers reordering (a beam continuing another) and finished inputs leaving.
        assert.ok(steps.some((p) => p.some((parent, n) => parent !== n)), 'no step reordered the cache');
        assert.ok(steps.some((p, i) => i > 0 && p.length < steps[i - 1]!.length), 'no step dropped a finished sequence');
        tf.dispose([px, embeds]);
        model.dispose();
      });

      it('VQA answers: greedy and beam 3 give the same tokens and scores with the cache', async () => {
        const { model, ref } = await load<BlipForQuestionAnswering>('vqa', 'BlipForQuestionAnswering', set);
        const px = toTensor(ref.get('inputs.pixel_values'));
        const ids = toTensor(ref.get('inputs.input_ids'));
        const mask = toTensor(ref.get('inputs.attention_mask'));
        const eos = model.config.text_config.sep_token_id;
        const states = encodeQuestions(model, px, ids, mask);
        const steps: number[][] = [];
        for (const eosBoost of [0, 2.5]) {
          const original = boost(model.textDecoder, eos, eosBoost);
          for (const numBeams of [1, 3]) {
            for (const maskQuestionPadding of [false, true]) {
              const options = { bosTokenId: 1, eosTokenId: eos, numBeams, maskQuestionPadding };
              const name = `beams ${numBeams}, EOS +${eosBoost}, masked ${maskQuestionPadding}`;
              const full = generateVqaAnswers(model, px, ids, mask, { ...options, kvCache: false });
              assertSameGenerations(generateVqaAnswers(model, px, ids, mask, options), full, name);
              // The question mask matters to the cached path as to the full one.
              const crossMask = maskQuestionPadding ? mask : tf.onesLike(mask);
              const search = { ...options, maxLength: 10, minLength: 1 };
              const cache = recording(cachedDecoder(model.textDecoder, states, crossMask), steps);
              assertSameGenerations(beamSearch(cache, 2, search), beamSearch(answerDecoder(model, states, crossMask), 2, search), `${name}, beamSearch`);
              cache.dispose();
              if (crossMask !== mask) crossMask.dispose();
            }
          }
          model.textDecoder.cls.predictions.bias.assign(original);
        }
        assert.ok(steps.some((p) => p.some((parent, n) => parent !== n)), 'no step reordered the cache');
        tf.dispose([px, ids, mask, states]);
        model.dispose();
      });

      it('rejects steps that do not match the cache', async () => {
        const { model, ref } = await load<BlipForConditionalGeneration>('captioning', 'BlipForConditionalGeneration', set);
        const embeds = tf.tidy(() => model.encodeImage(toTensor(ref.get('inputs.pixel_values'))).lastHiddenState);
        const cache = cachedDecoder(model.textDecoder, embeds);
        assert.throws(() => cache.step([4], [0]), /step before start/);
        assert.throws(() => cache.start([[1]], [2]), /row 2 names no input \(2 inputs\)/);
        assert.throws(() => cache.start([[1, 4], [1]], [0, 1]), /prefix 1 has 1 tokens/);
        cache.start([[1], [1]], [0, 1]).dispose();
        assert.throws(() => cache.step([4, 5], [0, 2]), /parent 2 names no sequence \(2 live\)/);
        assert.throws(() => cache.step([4], [0, 1]), /1 tokens but 2 parents/);
        cache.dispose();
        embeds.dispose();
        model.dispose();
      });
    });
  }
}
