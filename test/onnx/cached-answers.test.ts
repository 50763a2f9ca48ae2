// Open-ended VQA answers through onnxruntime's cached answer decoder (OnnxBlipModel.cachedAnswerDecoder,
// the path generateVqaAnswers takes on the ONNX model): the same answers as the TypeScript model's own
// key/value cache, with and without the question's padding masked, and the same logits when beams
// reorder and rows leave, on a tiny random model.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { defaultTokenizer } from '../../src/data/tokenizer.js';
import { cachedDecoder, encodeQuestions, generateVqaAnswers } from '../../src/eval/index.js';
import type { VqaGenerateOptions } from '../../src/eval/vqa.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForQuestionAnswering } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { OnnxBlipModel } from '../../src/onnx/runtime-model.js';

describe('OnnxBlipModel cached answer decoder', () => {
  let model: BlipForQuestionAnswering;
  let onnx: OnnxBlipModel;
  let pixels: tf.Tensor;
  let question: { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D };

  before(async () => {
    await initBackend();
    const config = parseBlipConfig({
      vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
      text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 40 },
    }, 'test');
    model = createModel(config, 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
    initParameters(model, 4);
    onnx = OnnxBlipModel.fromModel(model);
    pixels = tf.randomUniform([3, 3, 32, 32], 0, 1, 'float32', 7);
    // Questions of different lengths, so the padded ones exercise the encoder mask.
    question = defaultTokenizer().encodeToTensors(['what colour is the big shape on the left?', 'is it red?', 'how many?'], { maxLength: 35, padding: 'longest', firstToken: 'enc' });
  });

  after(async () => {
    await onnx.dispose();
    model.dispose();
    tf.dispose([pixels, question.inputIds, question.attentionMask]);
  });

  const cases: [string, VqaGenerateOptions][] = [
    ['beam 3', { numBeams: 3, maxLength: 8, minLength: 3 }],
    ['beam 3, question padding masked', { numBeams: 3, maxLength: 8, minLength: 3, maskQuestionPadding: true }],
    ['greedy, question padding masked', { numBeams: 1, maxLength: 8, minLength: 3, maskQuestionPadding: true }],
  ];
  for (const [name, options] of cases) {
    it(`generates the TypeScript model's answers (${name})`, () => {
      const ts = generateVqaAnswers(model, pixels, question.inputIds, question.attentionMask, options);
      const ox = generateVqaAnswers(onnx, pixels, question.inputIds, question.attentionMask, options);
      assert.deepEqual(ox.map((g) => g.tokens), ts.map((g) => g.tokens));
      assert.ok(ts.every((g) => g.tokens.length >= 2), 'answers shorter than minLength: nothing was decoded');
      ox.forEach((g, i) => assert.ok(Math.abs(g.logProb - ts[i]!.logProb) <= 1e-4, `#${i}: logProb ${g.logProb} vs ${ts[i]!.logProb}`));
    });
  }

  it('follows reordered and dropped rows, with each row\'s question mask', () => {
    const states = encodeQuestions(model, pixels, question.inputIds, question.attentionMask);
    const ts = cachedDecoder(model.textDecoder, states, question.attentionMask);
    const ox = onnx.cachedAnswerDecoder(states, question.attentionMask);
    const close = (a: tf.Tensor, b: tf.Tensor, what: string) => {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      assert.deepEqual(a.shape, b.shape, what);
      assert.ok(diff <= 1e-4, `${what}: max difference ${diff}`);
      tf.dispose([a, b]);
    };
    // Rows name questions out of order (the padded ones first); steps swap, duplicate and drop sequences.
    const rows = [2, 1, 0, 2];
    const prefix = rows.map(() => [30522]);
    close(ox.start(prefix, rows), ts.start(prefix, rows), 'prefill');
    const steps: [number[], number[]][] = [[[5, 6, 7, 8], [3, 2, 1, 0]], [[9, 10], [1, 1]], [[11], [0]]];
    steps.forEach(([tokens, parents], i) => close(ox.step(tokens, parents), ts.step(tokens, parents), `step ${i + 1}`));
    ts.dispose();
    ox.dispose();
    states.dispose();
  });
});
