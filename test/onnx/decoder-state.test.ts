// The cached decoders' state kept in onnxruntime's worker thread (src/onnx/decoder-state.ts): a
// generation's steps send only token ids and parent rows, so the worker must gather its cache rows
// as beams reorder, duplicate and drop, restart cleanly, and free each generation's state. Checked
// against the TypeScript model's own key/value cache on tiny random models, over padded questions.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { defaultTokenizer } from '../../src/data/tokenizer.js';
import { cachedDecoder, encodeQuestions, generateCaptions, generateVqaAnswers } from '../../src/eval/index.js';
import type { CachedDecoder } from '../../src/eval/index.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForConditionalGeneration, BlipForQuestionAnswering } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import type { Architecture } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { OnnxBlipModel } from '../../src/onnx/runtime-model.js';

const config = parseBlipConfig({
  vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
  text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 40 },
}, 'test');

function tiny<M>(architecture: Architecture, seed: number): M {
  const model = createModel(config, architecture);
  initParameters(model, seed);
  return model as M;
}

function close(a: tf.Tensor, b: tf.Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
  assert.ok(diff <= 1e-4, `${what}: max difference ${diff}`);
  tf.dispose([a, b]);
}

/**
 * Runs the same starts and steps on both caches, comparing logits: a 3-token prefix over inputs out of
 * order and repeated, then steps that keep, swap, duplicate and drop rows, then a second generation on
 * the same caches (start drops the first).
 */
function compareRuns(ox: CachedDecoder, ts: CachedDecoder): void {
  const generations: { rows: number[]; steps: [number[], number[]][] }[] = [
    {
      rows: [2, 1, 0, 2, 1],
      steps: [
        [[5, 6, 7, 8, 9], [0, 1, 2, 3, 4]], // as they are
        [[10, 11, 12, 13, 14], [4, 3, 2, 1, 0]], // reversed
        [[15, 16, 17, 18, 19, 20], [0, 0, 1, 2, 2, 3]], // duplicated and dropped
        [[21, 22], [5, 1]],
        [[23], [1]],
      ],
    },
    { rows: [1, 0], steps: [[[24, 25], [1, 0]], [[26, 27, 28], [0, 1, 1]]] },
  ];
  generations.forEach(({ rows, steps }, g) => {
    const prefix = rows.map((r) => [30522, 100 + r, 200 + r]);
    close(ox.start(prefix, rows), ts.start(prefix, rows), `generation ${g}: prefill`);
    steps.forEach(([tokens, parents], i) => close(ox.step(tokens, parents), ts.step(tokens, parents), `generation ${g}: step ${i + 1}`));
  });
}

describe('onnxruntime decoder state in the worker', () => {
  let captioner: BlipForConditionalGeneration;
  let answerer: BlipForQuestionAnswering;
  let onnxCaptioner: OnnxBlipModel;
  let onnxAnswerer: OnnxBlipModel;
  let pixels: tf.Tensor;
  let question: { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D };

  before(async () => {
    await initBackend();
    captioner = tiny('BlipForConditionalGeneration', 3);
    answerer = tiny('BlipForQuestionAnswering', 5);
    onnxCaptioner = OnnxBlipModel.fromModel(captioner);
    onnxAnswerer = OnnxBlipModel.fromModel(answerer);
    pixels = tf.randomUniform([3, 3, 32, 32], 0, 1, 'float32', 11);
    // Questions of different lengths: the padded ones' masks must follow their rows.
    question = defaultTokenizer().encodeToTensors(['is the circle above the square on the left?', 'what colour?', 'how many shapes are there?'], { maxLength: 35, padding: 'longest', firstToken: 'enc' });
  });

  after(async () => {
    await onnxCaptioner.dispose();
    await onnxAnswerer.dispose();
    captioner.dispose();
    answerer.dispose();
    tf.dispose([pixels, question.inputIds, question.attentionMask]);
  });

  it('follows reordered, duplicated and dropped rows of the caption cache, and restarts', () => {
    const embeds = tf.tidy(() => captioner.encodeImage(pixels).lastHiddenState);
    const ox = onnxCaptioner.cachedDecoder(embeds);
    const ts = cachedDecoder(captioner.textDecoder, embeds);
    compareRuns(ox, ts);
    ox.dispose();
    ts.dispose();
    embeds.dispose();
  });

  it('follows them in the answer cache, each row with its padded question\'s mask', () => {
    const states = encodeQuestions(answerer, pixels, question.inputIds, question.attentionMask);
    const ox = onnxAnswerer.cachedAnswerDecoder(states, question.attentionMask);
    const ts = cachedDecoder(answerer.textDecoder, states, question.attentionMask);
    compareRuns(ox, ts);
    ox.dispose();
    ts.dispose();
    states.dispose();
  });

  it('frees each generation\'s state, also when the generation or a step fails', () => {
    assert.equal(onnxCaptioner.openDecoderStates(), 0);
    const captions = generateCaptions(onnxCaptioner, pixels, { numBeams: 3, maxLength: 6 });
    assert.equal(captions.length, 3);
    generateVqaAnswers(onnxAnswerer, pixels, question.inputIds, question.attentionMask, { numBeams: 2, maxLength: 5 });
    assert.equal(onnxCaptioner.openDecoderStates(), 0);
    assert.equal(onnxAnswerer.openDecoderStates(), 0);

    // The search rejects its options after the decoder opened: the finally still frees it.
    assert.throws(() => generateCaptions(onnxCaptioner, pixels, { maxLength: 1, prompt: [1000] }), /maxLength 1/);
    assert.equal(onnxCaptioner.openDecoderStates(), 0);

    // onnxruntime fails a step (a token outside the vocabulary): the worker drops the half-updated cache.
    const embeds = tf.tidy(() => captioner.encodeImage(pixels).lastHiddenState);
    const ox = onnxCaptioner.cachedDecoder(embeds);
    assert.equal(onnxCaptioner.openDecoderStates(), 1);
    ox.start([[30522], [30522]], [0, 1]).dispose();
    assert.throws(() => ox.step([10 ** 6, 5], [0, 1]), /caption_decoder/);
    assert.equal(onnxCaptioner.openDecoderStates(), 0);
    assert.throws(() => ox.step([5], [0]), /step before start/);
    assert.throws(() => ox.start([[30522]], [0]), /no decoder state/);
    ox.dispose();
    assert.equal(onnxCaptioner.openDecoderStates(), 0);
    embeds.dispose();
  });
});
