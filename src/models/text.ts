// BLIP's text side: a post-norm BERT whose layers can cross-attend to image tokens (HF BlipTextModel),
// run bidirectionally (text encoder, image-grounded encoder) or causally (decoder), plus its LM head.
import { tf } from '../engine/backend.js';
import { attention, gelu, linear } from '../engine/ops.js';
import { attentionMacs } from '../nn/attention.js';
import { Embedding, LayerNorm, Linear } from '../nn/layers.js';
import { Module, ModuleList } from '../nn/module.js';
import type { Parameter } from '../nn/module.js';
import type { TextConfig } from './config.js';
import type { EncoderOutput, OutputOptions } from './outputs.js';

/** Additive self-attention mask of HF's BLIP text model: (1 − m)·−10000, m causal ∧ not padding. */
export function selfAttentionMask(attentionMask: tf.Tensor, causal: boolean): tf.Tensor {
  const [batch, length] = attentionMask.shape as [number, number];
  const padding = attentionMask.toFloat().reshape([batch, 1, 1, length]);
  const allowed = causal ? tf.mul(tf.linalg.bandPart(tf.ones([length, length]), -1, 0), padding) : padding;
  return tf.mul(tf.sub(1, allowed), -10000);
}

/** Additive cross-attention mask (HF `invert_attention_mask`): masked keys get float32's lowest value. */
export function crossAttentionMask(encoderAttentionMask: tf.Tensor): tf.Tensor {
  const [batch, length] = encoderAttentionMask.shape as [number, number];
  return tf.mul(tf.sub(1, encoderAttentionMask.toFloat().reshape([batch, 1, 1, length])), -3.4028234663852886e38);
}

export class TextEmbeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;

  constructor(readonly config: TextConfig) {
    super();
    this.wordEmbeddings = this.child('word_embeddings', new Embedding(config.vocab_size, config.hidden_size));
    this.positionEmbeddings = this.child('position_embeddings', new Embedding(config.max_position_embeddings, config.hidden_size));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(config.hidden_size, config.layer_norm_eps));
  }

  /** `pastLength`: position of the first of `inputIds` (tokens already decoded, see TextModel.decodeStep). */
  forward(inputIds: tf.Tensor, pastLength = 0): tf.Tensor {
    const length = pastLength + inputIds.shape[1]!;
    if (length > this.config.max_position_embeddings) {
      throw new Error(`input_ids has ${length} tokens; this model has ${this.config.max_position_embeddings} positions`);
    }
    const positions = this.positionEmbeddings.forward(tf.range(pastLength, length, 1, 'int32'));
    return this.layerNorm.forward(tf.add(this.wordEmbeddings.forward(inputIds), positions));
  }
}

/** Q from the text; K, V from `keyValueWidth`-wide states (the text itself or image tokens). */
class TextSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;

  constructor(
    readonly width: number,
    keyValueWidth: number,
    readonly heads: number,
  ) {
    super();
    this.query = this.child('query', new Linear(width, width));
    this.key = this.child('key', new Linear(keyValueWidth, width));
    this.value = this.child('value', new Linear(keyValueWidth, width));
  }
}

class TextSelfOutput extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;

  constructor(width: number, eps: number) {
    super();
    this.dense = this.child('dense', new Linear(width, width));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(width, eps));
  }
}

/** Attention then post-norm residual: LN(x + dense(attn(x, kv))). */
class TextAttention extends Module {
  readonly self: TextSelfAttention;
  readonly output: TextSelfOutput;

  constructor(config: TextConfig, keyValueWidth: number) {
    super();
    this.self = this.child('self', new TextSelfAttention(config.hidden_size, keyValueWidth, config.num_attention_heads));
    this.output = this.child('output', new TextSelfOutput(config.hidden_size, config.layer_norm_eps));
  }

  forward(x: tf.Tensor, keyValue: tf.Tensor, additiveMask: tf.Tensor): { output: tf.Tensor; probs: tf.Tensor } {
    return this.attend(x, this.project(keyValue), additiveMask);
  }

  /** Projected keys and values [B, T, W] of `keyValue`: what a decoder caches between steps. */
  project(keyValue: tf.Tensor): KeyValue {
    return { key: this.self.key.forward(keyValue), value: this.self.value.forward(keyValue) };
  }

  /** Attention of `x` over already-projected keys and values, then the post-norm residual. */
  attend(x: tf.Tensor, kv: KeyValue, additiveMask?: tf.Tensor): { output: tf.Tensor; probs: tf.Tensor } {
    const s = this.self;
    const { context, probs } = attention(s.query.forward(x), kv.key, kv.value, s.heads, additiveMask);
    return { output: this.output.layerNorm.forward(tf.add(x, this.output.dense.forward(context))), probs };
  }

  macs(queries: number, keys: number): number {
    const s = this.self;
    return s.query.macs(queries) + s.key.macs(keys) + s.value.macs(keys) + attentionMacs(queries, keys, s.width) + this.output.dense.macs(queries);
  }
}

class TextIntermediate extends Module {
  readonly dense: Linear;

  constructor(config: TextConfig) {
    super();
    this.dense = this.child('dense', new Linear(config.hidden_size, config.intermediate_size));
  }
}

class TextOutput extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;

  constructor(config: TextConfig) {
    super();
    this.dense = this.child('dense', new Linear(config.intermediate_size, config.hidden_size));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(config.hidden_size, config.layer_norm_eps));
  }
}

/** Projected attention keys and values [B, T, W] of one layer. */
export interface KeyValue {
  key: tf.Tensor;
  value: tf.Tensor;
}

/** What a decoding step attends to besides its own new tokens: cached keys and values per layer. */
export interface DecodeStepContext {
  /** Self-attention keys/values of the tokens already decoded, per layer [N, past, W]; absent at the start. */
  past?: readonly KeyValue[];
  /** Cross-attention keys/values over the encoder states, per layer [N, T_enc, W] (TextModel.crossKeyValues). */
  cross: readonly KeyValue[];
  /** Additive cross-attention mask [N, 1, 1, T_enc] (crossAttentionMask); none attends to every position. */
  crossMask?: tf.Tensor;
}

interface LayerContext {
  selfMask: tf.Tensor;
  encoderHiddenStates?: tf.Tensor;
  crossMask?: tf.Tensor;
}

export class TextLayer extends Module {
  readonly attention: TextAttention;
  readonly crossattention: TextAttention;
  readonly intermediate: TextIntermediate;
  readonly output: TextOutput;

  /** With `shareWith`, every sub-module but self-attention is that layer's own (BLIP's decoder tie). */
  constructor(config: TextConfig, shareWith?: TextLayer) {
    super();
    this.attention = this.child('attention', new TextAttention(config, config.hidden_size));
    this.crossattention = this.child('crossattention', shareWith?.crossattention ?? new TextAttention(config, config.encoder_hidden_size));
    this.intermediate = this.child('intermediate', shareWith?.intermediate ?? new TextIntermediate(config));
    this.output = this.child('output', shareWith?.output ?? new TextOutput(config));
  }

  forward(x: tf.Tensor, ctx: LayerContext): { output: tf.Tensor; selfProbs: tf.Tensor; crossProbs?: tf.Tensor } {
    const self = this.attention.forward(x, x, ctx.selfMask);
    let h = self.output;
    let crossProbs: tf.Tensor | undefined;
    if (ctx.encoderHiddenStates) {
      const cross = this.crossattention.forward(h, ctx.encoderHiddenStates, ctx.crossMask!);
      h = cross.output;
      crossProbs = cross.probs;
    }
    const ffn = this.output.dense.forward(gelu(this.intermediate.dense.forward(h)));
    return { output: this.output.layerNorm.forward(tf.add(h, ffn)), selfProbs: self.probs, crossProbs };
  }

  /**
   * The decoder layer on new tokens `x` [N, t, W] with cached keys/values: the same arithmetic as
   * forward, with self-attention over past + new keys. Returns the layer's keys/values past + new.
   */
  step(x: tf.Tensor, past: KeyValue | undefined, selfMask: tf.Tensor | undefined, cross: KeyValue, crossMask?: tf.Tensor): { output: tf.Tensor; keyValue: KeyValue } {
    const fresh = this.attention.project(x);
    const kv = past ? { key: tf.concat([past.key, fresh.key], 1), value: tf.concat([past.value, fresh.value], 1) } : fresh;
    const h = this.crossattention.attend(this.attention.attend(x, kv, selfMask).output, cross, crossMask).output;
    const ffn = this.output.dense.forward(gelu(this.intermediate.dense.forward(h)));
    return { output: this.output.layerNorm.forward(tf.add(h, ffn)), keyValue: kv };
  }

  macs(tokens: number, imageTokens: number): number {
    const cross = imageTokens > 0 ? this.crossattention.macs(tokens, imageTokens) : 0;
    return this.attention.macs(tokens, tokens) + cross + this.intermediate.dense.macs(tokens) + this.output.dense.macs(tokens);
  }
}

class TextEncoder extends Module {
  readonly layer: readonly TextLayer[];

  constructor(config: TextConfig, shareWith?: TextEncoder) {
    super();
    const layers = Array.from({ length: config.num_hidden_layers }, (_, i) => new TextLayer(config, shareWith?.layer[i]));
    this.layer = this.child('layer', new ModuleList(layers)).items;
  }
}

export interface TextForwardOptions extends OutputOptions {
  /** Image (or question) states to cross-attend to; without them cross-attention is skipped. */
  encoderHiddenStates?: tf.Tensor;
  /** [B, T_enc] 1 = attend; all ones when omitted. */
  encoderAttentionMask?: tf.Tensor;
  /** Causal self-attention (the decoder). */
  causal?: boolean;
}

export class TextModel extends Module {
  readonly embeddings: TextEmbeddings;
  readonly encoder: TextEncoder;

  /** With `shareWith`, shares embeddings and every layer parameter except self-attention. */
  constructor(
    readonly config: TextConfig,
    shareWith?: TextModel,
  ) {
    super();
    this.embeddings = this.child('embeddings', shareWith?.embeddings ?? new TextEmbeddings(config));
    this.encoder = this.child('encoder', new TextEncoder(config, shareWith?.encoder));
  }

  /** input_ids and attention_mask [B, T] (int32) → token states [B, T, W]. */
  forward(inputIds: tf.Tensor, attentionMask: tf.Tensor, options: TextForwardOptions = {}): EncoderOutput {
    if (attentionMask.shape.join() !== inputIds.shape.join()) {
      throw new Error(`attention_mask shape [${attentionMask.shape.join(',')}] differs from input_ids [${inputIds.shape.join(',')}]`);
    }
    const enc = options.encoderHiddenStates;
    const ctx: LayerContext = { selfMask: selfAttentionMask(attentionMask, options.causal ?? false), encoderHiddenStates: enc };
    if (enc) {
      const encMask = options.encoderAttentionMask ?? tf.ones([enc.shape[0]!, enc.shape[1]!]);
      ctx.crossMask = crossAttentionMask(encMask);
    }
    let x = this.embeddings.forward(inputIds);
    const hiddenStates = options.outputHiddenStates ? [x] : undefined;
    const attentions = options.outputAttentions ? ([] as tf.Tensor[]) : undefined;
    const crossAttentions = options.outputAttentions && enc ? ([] as tf.Tensor[]) : undefined;
    for (const layer of this.encoder.layer) {
      const out = layer.forward(x, ctx);
      x = out.output;
      hiddenStates?.push(x);
      attentions?.push(out.selfProbs);
      if (out.crossProbs) crossAttentions?.push(out.crossProbs);
    }
    return { lastHiddenState: x, hiddenStates, attentions, crossAttentions };
  }

  /** Cross-attention keys/values of every layer over `encoderHiddenStates` [R, T_enc, W_enc]: computed once per generation. */
  crossKeyValues(encoderHiddenStates: tf.Tensor): KeyValue[] {
    return this.encoder.layer.map((layer) => layer.crossattention.project(encoderHiddenStates));
  }

  /**
   * Causal decoding of new tokens `inputIds` [N, t] after `ctx.past` (keys/values of the tokens
   * before them), so a generation step costs its new tokens only. Equals the last t positions of a
   * causal forward over the whole sequence with an all-ones mask.
   */
  decodeStep(inputIds: tf.Tensor, ctx: DecodeStepContext): { lastHiddenState: tf.Tensor; keyValues: KeyValue[] } {
    const layers = this.encoder.layer;
    if (ctx.cross.length !== layers.length || (ctx.past && ctx.past.length !== layers.length)) {
      throw new Error(`decodeStep: ${layers.length} layers, but ${ctx.cross.length} cross and ${ctx.past?.length ?? 0} past key/value pairs`);
    }
    const [n, t] = inputIds.shape as [number, number];
    const pastLength = ctx.past ? ctx.past[0]!.key.shape[1]! : 0;
    const rows = [ctx.past?.[0]!.key.shape[0] ?? n, ctx.cross[0]!.key.shape[0]!];
    if (rows.some((r) => r !== n)) throw new Error(`decodeStep: ${n} sequences, but past keys for ${rows[0]} and cross keys for ${rows[1]}`);
    // Token i of the new ones sees every past token and the new ones up to itself; one token sees all.
    const selfMask = t > 1 ? tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([t, pastLength + t]), -1, pastLength)), -10000).reshape([1, 1, t, pastLength + t]) : undefined;
    let x = this.embeddings.forward(inputIds, pastLength);
    const keyValues: KeyValue[] = [];
    layers.forEach((layer, i) => {
      const out = layer.step(x, ctx.past?.[i], selfMask, ctx.cross[i]!, ctx.crossMask);
      x = out.output;
      keyValues.push(out.keyValue);
    });
    return { lastHiddenState: x, keyValues };
  }

  /** Multiply-accumulates for one sequence of `tokens`, cross-attending to `imageTokens` (0: none). */
  macs(tokens: number, imageTokens: number): number {
    return this.encoder.layer.reduce((n, layer) => n + layer.macs(tokens, imageTokens), 0);
  }
}

class PredictionTransform extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;

  constructor(config: TextConfig) {
    super();
    this.dense = this.child('dense', new Linear(config.hidden_size, config.hidden_size));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(config.hidden_size, config.layer_norm_eps));
  }
}

/** The vocabulary projection; HF stores its bias twice (`bias` and `decoder.bias`, one Parameter). */
class VocabProjection extends Module {
  readonly weight: Parameter;

  constructor(config: TextConfig, bias: Parameter) {
    super();
    this.weight = this.param('weight', [config.vocab_size, config.hidden_size], { kind: 'normal' });
    this.alias('bias', bias);
  }
}

class LMPrediction extends Module {
  readonly transform: PredictionTransform;
  readonly bias: Parameter;
  readonly decoder: VocabProjection;

  constructor(config: TextConfig) {
    super();
    this.bias = this.param('bias', [config.vocab_size], { kind: 'zeros' });
    this.transform = this.child('transform', new PredictionTransform(config));
    this.decoder = this.child('decoder', new VocabProjection(config, this.bias));
  }
}

export class LMHead extends Module {
  readonly predictions: LMPrediction;

  constructor(readonly config: TextConfig) {
    super();
    this.predictions = this.child('predictions', new LMPrediction(config));
  }

  /** states [B, T, W] → logits [B, T, vocab]: dense → GELU → LN → vocab projection + bias. */
  forward(states: tf.Tensor): tf.Tensor {
    return linear(this.transform(states), this.predictions.decoder.weight.value, this.predictions.bias.value);
  }

  /** dense → GELU → LN: the states the vocabulary projection reads (fused losses start here). */
  transform(states: tf.Tensor): tf.Tensor {
    const t = this.predictions.transform;
    return t.layerNorm.forward(gelu(t.dense.forward(states)));
  }

  /** The vocabulary projection's weight [vocab, W] and bias [vocab]. */
  get projection(): { weight: tf.Tensor; bias: tf.Tensor } {
    return { weight: this.predictions.decoder.weight.value, bias: this.predictions.bias.value };
  }

  macs(tokens: number): number {
    const p = this.predictions;
    return p.transform.dense.macs(tokens) + tokens * this.config.hidden_size * this.config.vocab_size;
  }
}
