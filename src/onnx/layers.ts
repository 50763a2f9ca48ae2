// One graph builder per kind of module of the BLIP family, each the ONNX form of the module's
// forward in src/models (same operations, same order, same constants), so an exported graph
// computes what the TypeScript model computes. Value names in, value names out.
import type { LayerNorm, Linear } from '../nn/layers.js';
import type { Parameter } from '../nn/module.js';
import type { LMHead, TextEmbeddings, TextLayer } from '../models/text.js';
import type { VisionEmbeddings, VisionModel } from '../models/vision.js';
import type { Graph } from './graph.js';
import { quantizedGather, quantizedMatmul } from './quantize.js';

/**
 * How linear layers are written: float MatMul, or int8 weights with activations quantised at run time
 * (then the word embeddings are stored int8 too, one scale per row).
 */
export type LinearMode = 'float' | 'int8';

/** What every builder needs: the graph, and how to write linear layers. */
export interface Emit {
  g: Graph;
  linearMode: LinearMode;
}

type VisionLayer = VisionModel['encoder']['layers'][number];
type TextAttention = TextLayer['attention'];

/** [out, in] → [in, out], so x·Wᵀ is a plain MatMul. */
function transpose(data: Float32Array, rows: number, cols: number): { dims: number[]; data: Float32Array } {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return { dims: [cols, rows], data: out };
}

/** y = x·Wᵀ + b over the last axis (W stored [out, in], as nn/layers Linear). */
export function linearOf(e: Emit, x: string, weight: Parameter, bias?: Parameter): string {
  const [rows, cols] = weight.shape as [number, number];
  const y = e.linearMode === 'int8'
    ? quantizedMatmul(e.g, x, weight)
    : e.g.op('MatMul', [x, e.g.parameter(weight, '.T', (d) => transpose(d, rows, cols))]);
  return bias ? e.g.op('Add', [y, e.g.parameter(bias)]) : y;
}

export function linear(e: Emit, x: string, layer: Linear): string {
  return linearOf(e, x, layer.weight, layer.bias);
}

export function layerNorm(e: Emit, x: string, ln: LayerNorm): string {
  return e.g.op('LayerNormalization', [x, e.g.parameter(ln.weight), e.g.parameter(ln.bias)], { axis: -1, epsilon: { float: ln.eps } });
}

/** Exact (erf) GELU, in the Div/Erf/Add/Mul/Mul pattern onnxruntime fuses into one Gelu kernel. */
export function gelu(e: Emit, x: string): string {
  const g = e.g;
  const erf = g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)])]);
  return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
}

/** [B, T, H·d] → [B, H, T, d] */
export function splitHeads(e: Emit, x: string, heads: number, headDim: number): string {
  return e.g.op('Transpose', [e.g.op('Reshape', [x, e.g.ints([0, 0, heads, headDim])])], { perm: [0, 2, 1, 3] });
}

/**
 * softmax(Q·Kᵀ/√d + mask)·V on head-split [B, H, T, d] inputs; `mask` (additive) broadcasts to
 * [B, H, Tq, Tk]. Returns the merged context [B, Tq, H·d].
 */
export function attendHeads(e: Emit, q: string, k: string, v: string, width: number, heads: number, mask?: string): string {
  const g = e.g;
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar(1 / Math.sqrt(width / heads))]);
  const probs = g.op('Softmax', [mask ? g.op('Add', [scores, mask]) : scores], { axis: -1 });
  const context = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] });
  return g.op('Reshape', [context, g.ints([0, 0, width])]);
}

/** Conv patches + CLS + positions: pixels [B, 3, S, S] → tokens [B, 1 + (S/p)², D]. */
export function visionEmbeddings(e: Emit, pixels: string, emb: VisionEmbeddings): string {
  const g = e.g;
  const { hidden_size: width, patch_size: p } = emb.config;
  const patchEmbedding = emb.patchEmbedding;
  const conv = g.op('Conv', [pixels, g.parameter(patchEmbedding.weight), g.parameter(patchEmbedding.bias)], { kernel_shape: [p, p], strides: [p, p] });
  const patches = g.op('Transpose', [g.op('Reshape', [conv, g.ints([0, width, -1])])], { perm: [0, 2, 1] });
  const batch = g.op('Shape', [pixels], { start: 0, end: 1 });
  const cls = g.op('Expand', [g.parameter(emb.classEmbedding), g.op('Concat', [batch, g.ints([1, width])], { axis: 0 })]);
  return g.op('Add', [g.op('Concat', [cls, patches], { axis: 1 }), g.parameter(emb.positionEmbedding)]);
}

/** Pre-norm ViT block: x + Attn(LN(x)); x + MLP(LN(x)), with the fused [q; k; v] projection. */
export function visionLayer(e: Emit, x: string, layer: VisionLayer): string {
  const g = e.g;
  const attn = layer.selfAttn;
  const width = attn.width;
  const d = width / attn.heads;
  const [q, k, v] = g.opN('Split', [linear(e, layerNorm(e, x, layer.layerNorm1), attn.qkv)], 3, { axis: 2 }) as [string, string, string];
  const context = attendHeads(e, splitHeads(e, q, attn.heads, d), splitHeads(e, k, attn.heads, d), splitHeads(e, v, attn.heads, d), width, attn.heads);
  const h = g.op('Add', [x, linear(e, context, attn.projection)]);
  const mlp = linear(e, gelu(e, linear(e, layerNorm(e, h, layer.layerNorm2), layer.mlp.fc1)), layer.mlp.fc2);
  return g.op('Add', [h, mlp]);
}

/** The whole image encoder: pixels → last_hidden_state (after the final LayerNorm). */
export function visionModel(e: Emit, pixels: string, model: VisionModel): string {
  let x = visionEmbeddings(e, pixels, model.embeddings);
  for (const layer of model.encoder.layers) x = visionLayer(e, x, layer);
  return layerNorm(e, x, model.postLayernorm);
}

/**
 * Word + absolute position embeddings, LayerNorm'ed; positions start at `start` (an int64 [1] value:
 * the cached length when decoding step by step) or 0.
 */
export function textEmbeddings(e: Emit, ids: string, emb: TextEmbeddings, start?: string): string {
  const g = e.g;
  const words = e.linearMode === 'int8'
    ? quantizedGather(g, emb.wordEmbeddings.weight, ids)
    : g.op('Gather', [g.parameter(emb.wordEmbeddings.weight), ids], { axis: 0 });
  const from = start ?? g.ints([0]);
  const to = g.op('Add', [from, g.op('Shape', [ids], { start: 1, end: 2 })]);
  const positions = g.op('Slice', [g.parameter(emb.positionEmbeddings.weight), from, to, g.ints([0])]);
  return layerNorm(e, g.op('Add', [words, positions]), emb.layerNorm);
}

/**
 * Additive self-attention mask of the text model, (1 − m)·−10000 as [B, 1, Tq, Tk]: m is the padding
 * mask [B, Tk] (int64), times a causal band when `causal` gives the query length and the cached
 * length (query i sees keys j ≤ past + i).
 */
export function selfAttentionMask(e: Emit, attentionMask: string, causal?: { queryIds: string; past: string }): string {
  const g = e.g;
  const padding = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: 1 }), g.ints([1, 2])]);
  let allowed = padding;
  if (causal) {
    const shape = g.op('Concat', [g.op('Shape', [causal.queryIds], { start: 1, end: 2 }), g.op('Shape', [attentionMask], { start: 1, end: 2 })], { axis: 0 });
    const ones = g.op('ConstantOfShape', [shape], { value: { tensor: { name: 'one', dims: [1], data_type: 1, raw_data: new Uint8Array(Float32Array.of(1).buffer) } } });
    const band = g.op('Trilu', [ones, g.op('Squeeze', [causal.past, g.ints([0])])], { upper: 0 });
    allowed = g.op('Mul', [band, padding]);
  }
  return g.op('Mul', [g.op('Sub', [g.scalar(1), allowed]), g.scalar(-10000)]);
}

/** Additive cross-attention mask (HF invert_attention_mask): masked keys get float32's lowest value. */
export function crossAttentionMask(e: Emit, encoderAttentionMask: string): string {
  const g = e.g;
  const m = g.op('Unsqueeze', [g.op('Cast', [encoderAttentionMask], { to: 1 }), g.ints([1, 2])]);
  return g.op('Mul', [g.op('Sub', [g.scalar(1), m]), g.scalar(-3.4028234663852886e38)]);
}

export interface KeyValue {
  key: string;
  value: string;
}

/** Keys and values [B, H, T, d] an attention block computes from `kv` [B, T, W]. */
export function keyValues(e: Emit, kv: string, attn: TextAttention): KeyValue {
  const s = attn.self;
  const d = s.width / s.heads;
  return { key: splitHeads(e, linear(e, kv, s.key), s.heads, d), value: splitHeads(e, linear(e, kv, s.value), s.heads, d) };
}

/**
 * BERT attention with its post-norm residual, LN(x + dense(attn(x, kv))). `kv` is the states to
 * project, or their keys/values already projected (a decoder's cross-attention, computed once). With
 * `past`, the new keys and values are appended to the cached ones; `present` returns the full cache.
 */
export function textAttention(e: Emit, x: string, kv: string | KeyValue, mask: string | undefined, attn: TextAttention, past?: KeyValue): { output: string; present: KeyValue } {
  const g = e.g;
  const s = attn.self;
  let { key, value } = typeof kv === 'string' ? keyValues(e, kv, attn) : kv;
  if (past) {
    key = g.op('Concat', [past.key, key], { axis: 2 });
    value = g.op('Concat', [past.value, value], { axis: 2 });
  }
  const context = attendHeads(e, splitHeads(e, linear(e, x, s.query), s.heads, s.width / s.heads), key, value, s.width, s.heads, mask);
  const output = layerNorm(e, g.op('Add', [x, linear(e, context, attn.output.dense)]), attn.output.layerNorm);
  return { output, present: { key, value } };
}

export interface TextLayerInputs {
  selfMask: string;
  /** States to cross-attend to, or their projected keys/values; without them the layer skips cross-attention. */
  cross?: string | KeyValue;
  /** Additive cross mask; none when every encoder token is attended to (image tokens). */
  crossMask?: string;
  past?: KeyValue;
}

/** A BERT layer: self-attention, [cross-attention], FFN, each with its post-norm residual. */
export function textLayer(e: Emit, x: string, layer: TextLayer, inputs: TextLayerInputs): { output: string; present: KeyValue } {
  const g = e.g;
  const self = textAttention(e, x, x, inputs.selfMask, layer.attention, inputs.past);
  let h = self.output;
  if (inputs.cross) h = textAttention(e, h, inputs.cross, inputs.crossMask, layer.crossattention).output;
  const ffn = linear(e, gelu(e, linear(e, h, layer.intermediate.dense)), layer.output.dense);
  return { output: layerNorm(e, g.op('Add', [h, ffn]), layer.output.layerNorm), present: self.present };
}

/** LM head: dense → GELU → LN → vocabulary projection + bias. */
export function lmHead(e: Emit, states: string, head: LMHead): string {
  const t = head.predictions.transform;
  const transformed = layerNorm(e, gelu(e, linear(e, states, t.dense)), t.layerNorm);
  return linearOf(e, transformed, head.predictions.decoder.weight, head.predictions.bias);
}

/** The first token's state: [B, T, W] → [B, W]. */
export function firstToken(e: Emit, states: string): string {
  return e.g.op('Gather', [states, e.g.ints([0], true)], { axis: 1 });
}

/** Rows divided by max(‖x‖₂, 1e-12), as F.normalize and models/blip l2Normalize. */
export function l2Normalize(e: Emit, x: string): string {
  const g = e.g;
  return g.op('Div', [x, g.op('Max', [g.op('ReduceL2', [x], { axes: [-1], keepdims: 1 }), g.scalar(1e-12)])]);
}
