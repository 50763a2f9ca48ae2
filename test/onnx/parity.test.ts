// Every exported graph, run by onnxruntime-node, against the TypeScript model it came from: the
// hf-blip-tiny fixtures (both weight sets) and a tiny-student, at batch 1 and 3 and two lengths.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { applyWeights } from '../../src/io/weights.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipForPreTraining, BlipForQuestionAnswering, BlipModel } from '../../src/models/blip.js';
import type { Architecture } from '../../src/models/config.js';
import { loadPreset } from '../../src/models/presets.js';
import { initParameters, createRng } from '../../src/nn/init.js';
import { buildGraphs } from '../../src/onnx/graphs.js';
import type { GraphName } from '../../src/onnx/graphs.js';
import { OnnxSession, floats, int64s } from '../../src/onnx/session.js';
import type { HostTensor } from '../../src/onnx/session.js';
import { fixtureConfig, fixtureWeights, WEIGHT_SETS } from '../helpers/fixtures.js';
import type { FixtureTask } from '../helpers/fixtures.js';

const TOL = 1e-4;
const BATCHES = [1, 3];
const LENGTHS = [5, 9];

async function sessions(model: BlipModel): Promise<Map<GraphName, OnnxSession>> {
  const out = new Map<GraphName, OnnxSession>();
  for (const [name, build] of buildGraphs(model)) out.set(name, await OnnxSession.open(build().encode(name), {}, name));
  return out;
}

/** Deterministic inputs: pixels ~ N(0,1), ids in [1, vocab), later rows padded (never the first 2 tokens). */
function inputs(model: BlipModel, batch: number, length: number, seed: number) {
  const rng = createRng(seed);
  const s = model.config.vision_config.image_size;
  const pixels = Float32Array.from({ length: batch * 3 * s * s }, () => (rng() + rng() + rng() - 1.5) * 2);
  const vocab = model.config.text_config.vocab_size;
  const ids = Int32Array.from({ length: batch * length }, () => 1 + Math.floor(rng() * (vocab - 1)));
  const mask = new Int32Array(batch * length).fill(1);
  for (let b = 1; b < batch; b++) {
    const kept = Math.max(2, length - 2 * b);
    for (let t = kept; t < length; t++) {
      mask[b * length + t] = 0;
      ids[b * length + t] = 0;
    }
  }
  return { pixels, pixelDims: [batch, 3, s, s], ids, mask, dims: [batch, length] };
}

function assertClose(actual: { data: Float32Array; dims: number[] }, expected: tf.Tensor, name: string): number {
  assert.deepEqual(actual.dims, expected.shape, `${name}: shape`);
  const e = expected.dataSync();
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(actual.data[i]! - e[i]!));
  assert.ok(worst <= TOL, `${name}: max |onnx − ts| ${worst.toExponential(2)} > ${TOL}`);
  return worst;
}

const idsT = (x: Int32Array, dims: number[]) => tf.tensor2d(x, dims as [number, number], 'int32');

async function checkRetrieval(model: BlipForImageTextRetrieval | BlipForPreTraining, graphs: Map<GraphName, OnnxSession>, batch: number, length: number, seed: number) {
  const x = inputs(model, batch, length, seed);
  const image = await graphs.get('image_encoder')!.run({ pixel_values: floats(x.pixels, x.pixelDims) });
  const text = await graphs.get('text_encoder')!.run({ input_ids: int64s(x.ids, x.dims), attention_mask: int64s(x.mask, x.dims) });
  const fused = await graphs.get('itm')!.run({ input_ids: int64s(x.ids, x.dims), attention_mask: int64s(x.mask, x.dims), image_embeds: floats(image.image_embeds!.data, image.image_embeds!.dims) });
  tf.tidy(() => {
    const ids = idsT(x.ids, x.dims);
    const mask = idsT(x.mask, x.dims);
    const embeds = model.encodeImage(tf.tensor(x.pixels, x.pixelDims)).lastHiddenState;
    assertClose(image.image_embeds!, embeds, 'image_embeds');
    const iproj = model.imageProjection(embeds);
    assertClose(image.image_proj!, iproj, 'image_proj');
    assertClose(image.image_feat!, tf.div(iproj, tf.maximum(tf.norm(iproj, 'euclidean', -1, true), 1e-12)), 'image_feat');
    const states = model.encodeText(ids, mask).lastHiddenState;
    assertClose(text.text_embeds!, states, 'text_embeds');
    const tproj = model.textProjection(states);
    assertClose(text.text_proj!, tproj, 'text_proj');
    assertClose(text.text_feat!, tf.div(tproj, tf.maximum(tf.norm(tproj, 'euclidean', -1, true), 1e-12)), 'text_feat');
    const mm = model.encodeMultimodal(ids, mask, embeds).lastHiddenState;
    assertClose(fused.multimodal_embeds!, mm, 'multimodal_embeds');
    assertClose(fused.itm_logits!, model.itmLogits(mm), 'itm_logits');
  });
}

/** Empty caches for a prefill. */
function emptyPast(model: BlipModel, batch: number): Record<string, HostTensor> {
  const t = model.config.text_config;
  const dims = [batch, t.num_attention_heads, 0, t.hidden_size / t.num_attention_heads];
  const out: Record<string, HostTensor> = {};
  for (let i = 0; i < t.num_hidden_layers; i++) {
    out[`past_key_values.${i}.key`] = floats(new Float32Array(0), dims);
    out[`past_key_values.${i}.value`] = floats(new Float32Array(0), dims);
  }
  return out;
}

function presentAsPast(out: Record<string, { data: Float32Array; dims: number[] }>, layers: number): Record<string, HostTensor> {
  const past: Record<string, HostTensor> = {};
  for (let i = 0; i < layers; i++) {
    past[`past_key_values.${i}.key`] = out[`present.${i}.key`]!;
    past[`past_key_values.${i}.value`] = out[`present.${i}.value`]!;
  }
  return past;
}

/**
 * The decoder graph as a prefill of the whole sequence and as prefill of all but the last token then
 * one cached step: both against the TypeScript decoder's teacher-forced logits.
 */
async function checkDecoder(
  model: BlipModel,
  crossSession: OnnxSession,
  session: OnnxSession,
  encoder: { data: Float32Array; dims: number[] },
  encoderMask: Int32Array | undefined,
  x: { ids: Int32Array; mask: Int32Array; dims: number[] },
  expected: tf.Tensor,
) {
  const [batch, length] = x.dims as [number, number];
  const layers = model.config.text_config.num_hidden_layers;
  const extra: Record<string, HostTensor> = { ...(await crossSession.run({ encoder_hidden_states: floats(encoder.data, encoder.dims) })) };
  if (encoderMask) extra.encoder_attention_mask = int64s(encoderMask, [batch, encoderMask.length / batch]);
  const full = await session.run({ input_ids: int64s(x.ids, x.dims), attention_mask: int64s(x.mask, x.dims), ...extra, ...emptyPast(model, batch) });
  assertClose(full.logits!, expected, 'logits (prefill)');
  const cut = (a: Int32Array, n: number) => Int32Array.from({ length: batch * n }, (_, i) => a[Math.floor(i / n) * length + (i % n)]!);
  const head = await session.run({ input_ids: int64s(cut(x.ids, length - 1), [batch, length - 1]), attention_mask: int64s(cut(x.mask, length - 1), [batch, length - 1]), ...extra, ...emptyPast(model, batch) });
  const lastIds = Int32Array.from({ length: batch }, (_, b) => x.ids[b * length + length - 1]!);
  const step = await session.run({ input_ids: int64s(lastIds, [batch, 1]), attention_mask: int64s(x.mask, x.dims), ...extra, ...presentAsPast(head, layers) });
  tf.tidy(() => assertClose(step.logits!, expected.slice([0, length - 1, 0], [-1, 1, -1]), 'logits (one cached step)'));
  for (let i = 0; i < layers; i++) {
    assertClose(step[`present.${i}.key`]!, tf.tensor(full[`present.${i}.key`]!.data, full[`present.${i}.key`]!.dims), `present.${i}.key`);
    assertClose(step[`present.${i}.value`]!, tf.tensor(full[`present.${i}.value`]!.data, full[`present.${i}.value`]!.dims), `present.${i}.value`);
  }
}

async function checkCaption(model: BlipForConditionalGeneration | BlipForPreTraining, graphs: Map<GraphName, OnnxSession>, batch: number, length: number, seed: number) {
  const x = inputs(model, batch, length, seed);
  const image = await graphs.get('image_encoder')!.run({ pixel_values: floats(x.pixels, x.pixelDims) });
  const expected = tf.tidy(() => {
    const embeds = model.encodeImage(tf.tensor(x.pixels, x.pixelDims)).lastHiddenState;
    assertClose(image.image_embeds!, embeds, 'image_embeds');
    return model.decode(idsT(x.ids, x.dims), idsT(x.mask, x.dims), embeds).logits;
  });
  await checkDecoder(model, graphs.get('caption_cross_kv')!, graphs.get('caption_decoder')!, image.image_embeds!, undefined, x, expected);
  expected.dispose();
}

async function checkVqa(model: BlipForQuestionAnswering, graphs: Map<GraphName, OnnxSession>, batch: number, length: number, seed: number) {
  const q = inputs(model, batch, length, seed);
  const a = inputs(model, batch, length - 2, seed + 1);
  const image = await graphs.get('image_encoder')!.run({ pixel_values: floats(q.pixels, q.pixelDims) });
  const question = await graphs.get('question_encoder')!.run({ input_ids: int64s(q.ids, q.dims), attention_mask: int64s(q.mask, q.dims), image_embeds: floats(image.image_embeds!.data, image.image_embeds!.dims) });
  const expected = tf.tidy(() => {
    const embeds = model.encodeImage(tf.tensor(q.pixels, q.pixelDims)).lastHiddenState;
    assertClose(image.image_embeds!, embeds, 'image_embeds');
    const qmask = idsT(q.mask, q.dims);
    const states = model.encodeQuestion(idsT(q.ids, q.dims), qmask, embeds).lastHiddenState;
    assertClose(question.question_embeds!, states, 'question_embeds');
    return model.decodeAnswer(idsT(a.ids, a.dims), idsT(a.mask, a.dims), states, qmask).logits;
  });
  await checkDecoder(model, graphs.get('answer_cross_kv')!, graphs.get('answer_decoder')!, question.question_embeds!, q.mask, a, expected);
  expected.dispose();
}

async function fixtureModel<M extends BlipModel>(task: FixtureTask, arch: Architecture, set: string): Promise<M> {
  const model = createModel(fixtureConfig(task), arch);
  applyWeights(model, await fixtureWeights(task, set), { source: `${task}${set}` });
  return model as M;
}

async function eachShape(check: (batch: number, length: number, seed: number) => Promise<void>): Promise<void> {
  let seed = 1;
  for (const batch of BATCHES) for (const length of LENGTHS) await check(batch, length, seed++);
}

describe('ONNX export matches the TypeScript model (onnxruntime-node)', () => {
  before(async () => {
    await initBackend();
  });

  for (const set of WEIGHT_SETS) {
    const label = set || '_std0.02';
    it(`hf-blip-tiny retrieval${label}: image encoder, text encoder, ITM`, async () => {
      const model = await fixtureModel<BlipForImageTextRetrieval>('retrieval', 'BlipForImageTextRetrieval', set);
      const graphs = await sessions(model);
      assert.deepEqual([...graphs.keys()], ['image_encoder', 'text_encoder', 'itm']);
      await eachShape((b, l, s) => checkRetrieval(model, graphs, b, l, s));
      model.dispose();
    });

    it(`hf-blip-tiny captioning${label}: caption decoder, prefill and cached step`, async () => {
      const model = await fixtureModel<BlipForConditionalGeneration>('captioning', 'BlipForConditionalGeneration', set);
      const graphs = await sessions(model);
      assert.deepEqual([...graphs.keys()], ['image_encoder', 'caption_cross_kv', 'caption_decoder']);
      await eachShape((b, l, s) => checkCaption(model, graphs, b, l, s));
      model.dispose();
    });

    it(`hf-blip-tiny vqa${label}: question encoder, answer decoder`, async () => {
      const model = await fixtureModel<BlipForQuestionAnswering>('vqa', 'BlipForQuestionAnswering', set);
      const graphs = await sessions(model);
      assert.deepEqual([...graphs.keys()], ['image_encoder', 'question_encoder', 'answer_cross_kv', 'answer_decoder']);
      await eachShape((b, l, s) => checkVqa(model, graphs, b, l, s));
      model.dispose();
    });
  }

  it('tiny-student (pre-training model): every graph', async () => {
    const model = createModel(loadPreset('tiny-student'), 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 7);
    const graphs = await sessions(model);
    assert.deepEqual([...graphs.keys()], ['image_encoder', 'text_encoder', 'itm', 'caption_cross_kv', 'caption_decoder']);
    await eachShape(async (b, l, s) => {
      await checkRetrieval(model, graphs, b, l, s);
      await checkCaption(model, graphs, b, l, s);
    });
    model.dispose();
  });
});
