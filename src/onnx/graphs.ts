// The graphs a BLIP task model exports to, each built from the model's module tree with the
// builders of layers.ts. Names and shapes here are the public contract documented in docs/onnx.md.
import type { Parameter } from '../nn/module.js';
import { BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipForPreTraining, BlipForQuestionAnswering } from '../models/blip.js';
import type { BlipModel, TextDecoder } from '../models/blip.js';
import type { TextModel } from '../models/text.js';
import { Graph } from './graph.js';
import type { ValueSpec } from './graph.js';
import { crossAttentionMask, firstToken, keyValues, l2Normalize, lmHead, linear, selfAttentionMask, textEmbeddings, textLayer, visionModel } from './layers.js';
import type { Emit, KeyValue, LinearMode } from './layers.js';

export const GRAPH_NAMES = ['image_encoder', 'text_encoder', 'itm', 'caption_cross_kv', 'caption_decoder', 'question_encoder', 'answer_cross_kv', 'answer_decoder'] as const;
export type GraphName = (typeof GRAPH_NAMES)[number];

const ids = (name: string, dims: (string | number)[], doc: string): ValueSpec => ({ name, type: 'int64', dims, doc });
const floats = (name: string, dims: (string | number)[], doc: string): ValueSpec => ({ name, type: 'float32', dims, doc });

const INPUT_IDS = ids('input_ids', ['batch', 'sequence'], 'token ids (BERT WordPiece + [DEC] 30522, [ENC] 30523), padded with 0');
const ATTENTION_MASK = ids('attention_mask', ['batch', 'sequence'], '1 for a token, 0 for padding');

function emitter(model: BlipModel, name: GraphName, linearMode: LinearMode): Emit {
  const names = new Map<Parameter, string>();
  for (const [key, p] of model.namedParameters()) names.set(p, key);
  return { g: new Graph(name, names), linearMode };
}

/** pixel_values → image_embeds (every image token), plus the ITC projection where the model has one. */
function imageEncoder(model: BlipModel, mode: LinearMode): Graph {
  const e = emitter(model, 'image_encoder', mode);
  const v = model.config.vision_config;
  const tokens = model.visionModel.tokens;
  const pixels = e.g.input(floats('pixel_values', ['batch', 3, v.image_size, v.image_size], `RGB, resized to ${v.image_size}² (bicubic), normalised with BLIP's mean and std, NCHW`));
  const embeds = visionModel(e, pixels, model.visionModel);
  e.g.output(embeds, floats('image_embeds', ['batch', tokens, v.hidden_size], 'last_hidden_state of the image encoder (after its final LayerNorm); token 0 is CLS'));
  if (model instanceof BlipForImageTextRetrieval) {
    const proj = linear(e, firstToken(e, embeds), model.visionProj);
    e.g.output(proj, floats('image_proj', ['batch', model.config.image_text_hidden_size], 'vision_proj of the CLS token (ITC space), not normalised'));
    e.g.output(l2Normalize(e, proj), floats('image_feat', ['batch', model.config.image_text_hidden_size], 'image_proj L2-normalised: cosine similarity is image_feat·text_featᵀ'));
  }
  return e.g;
}

/** The text transformer over `inputIds`: bidirectional, optionally cross-attending to encoder states. */
function encodeText(e: Emit, text: TextModel, inputIds: string, mask: string, encoderStates?: string): string {
  const selfMask = selfAttentionMask(e, mask);
  let x = textEmbeddings(e, inputIds, text.embeddings);
  for (const layer of text.encoder.layer) x = textLayer(e, x, layer, { selfMask, cross: encoderStates }).output;
  return x;
}

/** Unimodal text encoder + ITC projection (retrieval models). */
function textEncoder(model: BlipForImageTextRetrieval, mode: LinearMode): Graph {
  const e = emitter(model, 'text_encoder', mode);
  const t = model.config.text_config;
  const states = encodeText(e, model.textEncoder, e.g.input(INPUT_IDS), e.g.input(ATTENTION_MASK));
  e.g.output(states, floats('text_embeds', ['batch', 'sequence', t.hidden_size], 'last_hidden_state of the unimodal text encoder ([CLS] first)'));
  const proj = linear(e, firstToken(e, states), model.textProj);
  e.g.output(proj, floats('text_proj', ['batch', model.config.image_text_hidden_size], 'text_proj of the first token (ITC space), not normalised'));
  e.g.output(l2Normalize(e, proj), floats('text_feat', ['batch', model.config.image_text_hidden_size], 'text_proj L2-normalised'));
  return e.g;
}

function imageEmbedsInput(model: BlipModel, name: string): ValueSpec {
  const v = model.config.vision_config;
  return floats(name, ['batch', model.visionModel.tokens, v.hidden_size], 'image_embeds of the image encoder, one image per text row');
}

/** Image-grounded text encoder + ITM head (retrieval models): pair b is (image b, text b). */
function itm(model: BlipForImageTextRetrieval, mode: LinearMode): Graph {
  const e = emitter(model, 'itm', mode);
  const t = model.config.text_config;
  const inputIds = e.g.input({ ...INPUT_IDS, doc: `${INPUT_IDS.doc}; BLIP puts [ENC] (30523) first for ITM` });
  const mask = e.g.input(ATTENTION_MASK);
  const image = e.g.input(imageEmbedsInput(model, 'image_embeds'));
  const states = encodeText(e, model.textEncoder, inputIds, mask, image);
  e.g.output(states, floats('multimodal_embeds', ['batch', 'sequence', t.hidden_size], 'last_hidden_state of the image-grounded text encoder'));
  e.g.output(linear(e, firstToken(e, states), model.itmHead), floats('itm_logits', ['batch', 2], 'ITM logits [no match, match]'));
  return e.g;
}

/** VQA question encoder: the question read against the image. */
function questionEncoder(model: BlipForQuestionAnswering, mode: LinearMode): Graph {
  const e = emitter(model, 'question_encoder', mode);
  const t = model.config.text_config;
  const inputIds = e.g.input({ ...INPUT_IDS, doc: `${INPUT_IDS.doc}; BLIP puts [ENC] (30523) first` });
  const mask = e.g.input(ATTENTION_MASK);
  const image = e.g.input(imageEmbedsInput(model, 'image_embeds'));
  const states = encodeText(e, model.textEncoder, inputIds, mask, image);
  e.g.output(states, floats('question_embeds', ['batch', 'sequence', t.hidden_size], 'question states the answer decoder cross-attends to'));
  return e.g;
}

function cacheDims(model: BlipModel, length: string): { heads: number; headDim: number; dims: (string | number)[] } {
  const t = model.config.text_config;
  const heads = t.num_attention_heads;
  const headDim = t.hidden_size / heads;
  return { heads, headDim, dims: ['batch', heads, length, headDim] };
}

function encoderStatesInput(model: BlipModel, answer: boolean): ValueSpec {
  const t = model.config.text_config;
  return answer
    ? floats('encoder_hidden_states', ['batch', 'encoder_sequence', t.encoder_hidden_size], 'question_embeds of the question encoder')
    : imageEmbedsInput(model, 'encoder_hidden_states');
}

/**
 * The decoder's cross-attention keys and values over the encoder states (image or question), every
 * layer's: computed once per input, then read by every decoder step.
 */
function crossKeyValues(model: BlipModel, dec: TextDecoder, name: 'caption_cross_kv' | 'answer_cross_kv', mode: LinearMode): Graph {
  const e = emitter(model, name, mode);
  const states = e.g.input(encoderStatesInput(model, name === 'answer_cross_kv'));
  const { dims } = cacheDims(model, 'encoder_sequence');
  dec.bert.encoder.layer.forEach((layer, i) => {
    const kv = keyValues(e, states, layer.crossattention);
    e.g.output(kv.key, floats(`cross_key_values.${i}.key`, dims, `layer ${i} cross-attention keys over the encoder states`));
    e.g.output(kv.value, floats(`cross_key_values.${i}.value`, dims, `layer ${i} cross-attention values over the encoder states`));
  });
  return e.g;
}

/**
 * A causal decoder with its LM head and a key/value cache: one graph serves the prefill (past length
 * 0) and every later step (the new tokens only, with the returned cache fed back as past). It reads the
 * cross-attention keys and values its *_cross_kv graph computed once.
 */
function decoder(model: BlipModel, dec: TextDecoder, name: 'caption_decoder' | 'answer_decoder', mode: LinearMode): Graph {
  const e = emitter(model, name, mode);
  const g = e.g;
  const t = model.config.text_config;
  const answer = name === 'answer_decoder';
  const kvGraph = answer ? 'answer_cross_kv' : 'caption_cross_kv';
  const inputIds = g.input({ ...INPUT_IDS, doc: 'the new tokens: the whole prefix ([DEC] first) at past length 0, then one token a step' });
  const mask = g.input(ids('attention_mask', ['batch', 'total_sequence'], 'padding mask of past + new tokens (total_sequence = past_sequence + sequence)'));
  const encoderMask = answer ? g.input(ids('encoder_attention_mask', ['batch', 'encoder_sequence'], 'the question\'s attention_mask')) : undefined;
  const layers = dec.bert.encoder.layer;
  const cross = cacheDims(model, 'encoder_sequence');
  const crossKv: KeyValue[] = layers.map((_, i) => ({
    key: g.input(floats(`cross_key_values.${i}.key`, cross.dims, `${kvGraph}'s output of the same name`)),
    value: g.input(floats(`cross_key_values.${i}.value`, cross.dims, `${kvGraph}'s output of the same name`)),
  }));
  const self = cacheDims(model, 'past_sequence');
  const past: KeyValue[] = layers.map((_, i) => ({
    key: g.input(floats(`past_key_values.${i}.key`, self.dims, `layer ${i} self-attention keys of the past tokens ([batch, ${self.heads}, 0, ${self.headDim}] for the prefill)`)),
    value: g.input(floats(`past_key_values.${i}.value`, self.dims, `layer ${i} self-attention values of the past tokens`)),
  }));
  const pastLength = g.op('Shape', [past[0]!.key], { start: 2, end: 3 });
  const selfMask = selfAttentionMask(e, mask, { queryIds: inputIds, past: pastLength });
  const crossMask = encoderMask ? crossAttentionMask(e, encoderMask) : undefined;
  let x = textEmbeddings(e, inputIds, dec.bert.embeddings, pastLength);
  const present: KeyValue[] = [];
  layers.forEach((layer, i) => {
    const out = textLayer(e, x, layer, { selfMask, cross: crossKv[i], crossMask, past: past[i] });
    x = out.output;
    present.push(out.present);
  });
  g.output(lmHead(e, x, dec.cls), floats('logits', ['batch', 'sequence', t.vocab_size], 'next-token logits: position t predicts the token after it'));
  const total = cacheDims(model, 'total_sequence');
  present.forEach((kv, i) => {
    g.output(kv.key, floats(`present.${i}.key`, total.dims, `layer ${i} keys of past + new tokens: the next step's past_key_values.${i}.key`));
    g.output(kv.value, floats(`present.${i}.value`, total.dims, `layer ${i} values of past + new tokens`));
  });
  return g;
}

/** The graphs `model` exports to, by name, in a fixed order. */
export function buildGraphs(model: BlipModel, mode: LinearMode = 'float', only?: readonly GraphName[]): Map<GraphName, () => Graph> {
  const out = new Map<GraphName, () => Graph>();
  out.set('image_encoder', () => imageEncoder(model, mode));
  if (model instanceof BlipForImageTextRetrieval) {
    out.set('text_encoder', () => textEncoder(model, mode));
    out.set('itm', () => itm(model, mode));
  }
  if (model instanceof BlipForConditionalGeneration || model instanceof BlipForPreTraining) {
    out.set('caption_cross_kv', () => crossKeyValues(model, model.textDecoder, 'caption_cross_kv', mode));
    out.set('caption_decoder', () => decoder(model, model.textDecoder, 'caption_decoder', mode));
  }
  if (model instanceof BlipForQuestionAnswering) {
    out.set('question_encoder', () => questionEncoder(model, mode));
    out.set('answer_cross_kv', () => crossKeyValues(model, model.textDecoder, 'answer_cross_kv', mode));
    out.set('answer_decoder', () => decoder(model, model.textDecoder, 'answer_decoder', mode));
  }
  if (only) {
    for (const name of only) if (!out.has(name)) throw new Error(`a ${model.architecture} has no ${name} graph; it exports ${[...out.keys()].join(', ')}`);
    for (const name of [...out.keys()]) if (!only.includes(name)) out.delete(name);
  }
  return out;
}
