// A BLIP task model whose forward passes run in onnxruntime: the same methods, taking and returning
// tfjs tensors, that dlip's evaluation calls on the TypeScript model (retrieval, captioning, VQA), so
// `dlip eval --runtime onnx` scores the exported graphs with the very code that scores the model.
import { tf } from '../engine/backend.js';
import type { BlipModel } from '../models/blip.js';
import type { Architecture, BlipConfig } from '../models/config.js';
import { buildGraphs } from './graphs.js';
import type { GraphName } from './graphs.js';
import type { CacheLayout } from './decoder-state.js';
import type { LinearMode } from './layers.js';
import { floats } from './session.js';
import type { HostTensor } from './session.js';
import { SyncOnnxRunner } from './sync-runner.js';
import { OnnxCachedDecoder } from './cached-decoder.js';

type Output = { data: Float32Array; dims: number[] };

function hostFloats(t: tf.Tensor): HostTensor {
  return floats(t.dataSync() as Float32Array, t.shape);
}

function hostIds(t: tf.Tensor): HostTensor {
  return { data: BigInt64Array.from(t.dataSync(), (v) => BigInt(v)), dims: t.shape };
}

const toTensor = (o: Output): tf.Tensor => tf.tensor(o.data, o.dims, 'float32');

export class OnnxBlipModel {
  /** Outputs a graph computed beside the one its caller asked for (projections, ITM logits), by the tensor they go with. */
  private readonly companions = new WeakMap<tf.Tensor, tf.Tensor>();
  private readonly decoderLayers: number;

  private constructor(
    readonly architecture: Architecture,
    readonly config: BlipConfig,
    private readonly runner: SyncOnnxRunner,
    readonly graphNames: readonly GraphName[],
    readonly linearMode: LinearMode,
  ) {
    this.decoderLayers = config.text_config.num_hidden_layers;
  }

  /** Exports `model`'s graphs in memory and opens them in onnxruntime. */
  static fromModel(model: BlipModel, options: { quantize?: 'int8'; threads?: number } = {}): OnnxBlipModel {
    const mode: LinearMode = options.quantize === 'int8' ? 'int8' : 'float';
    const graphs: Record<string, Uint8Array> = {};
    for (const [name, build] of buildGraphs(model, mode)) graphs[name] = build().encode(name);
    const runner = new SyncOnnxRunner(graphs, { threads: options.threads });
    return new OnnxBlipModel(model.architecture, model.config, runner, Object.keys(graphs) as GraphName[], mode);
  }

  private run(graph: GraphName, feeds: Record<string, HostTensor>): Record<string, Output> {
    if (!this.graphNames.includes(graph)) throw new Error(`this ${this.architecture} has no ${graph} graph`);
    return this.runner.run(graph, feeds);
  }

  private companion(t: tf.Tensor, what: string): tf.Tensor {
    const c = this.companions.get(t);
    if (!c) throw new Error(`${what}: pass the tensor the ONNX model returned (its companion output is looked up by it)`);
    return c;
  }

  encodeImage(pixelValues: tf.Tensor): { lastHiddenState: tf.Tensor } {
    const out = this.run('image_encoder', { pixel_values: hostFloats(pixelValues) });
    const embeds = toTensor(out.image_embeds!);
    if (out.image_proj) this.companions.set(embeds, toTensor(out.image_proj));
    return { lastHiddenState: embeds };
  }

  imageProjection(imageEmbeds: tf.Tensor): tf.Tensor {
    return this.companion(imageEmbeds, 'imageProjection');
  }

  encodeText(inputIds: tf.Tensor, attentionMask: tf.Tensor): { lastHiddenState: tf.Tensor } {
    const out = this.run('text_encoder', { input_ids: hostIds(inputIds), attention_mask: hostIds(attentionMask) });
    const states = toTensor(out.text_embeds!);
    this.companions.set(states, toTensor(out.text_proj!));
    return { lastHiddenState: states };
  }

  textProjection(textStates: tf.Tensor): tf.Tensor {
    return this.companion(textStates, 'textProjection');
  }

  encodeMultimodal(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor): { lastHiddenState: tf.Tensor } {
    const out = this.run('itm', { input_ids: hostIds(inputIds), attention_mask: hostIds(attentionMask), image_embeds: hostFloats(imageEmbeds) });
    const states = toTensor(out.multimodal_embeds!);
    this.companions.set(states, toTensor(out.itm_logits!));
    return { lastHiddenState: states };
  }

  itmLogits(multimodalStates: tf.Tensor): tf.Tensor {
    return this.companion(multimodalStates, 'itmLogits');
  }

  encodeQuestion(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor): { lastHiddenState: tf.Tensor } {
    const out = this.run('question_encoder', { input_ids: hostIds(inputIds), attention_mask: hostIds(attentionMask), image_embeds: hostFloats(imageEmbeds) });
    return { lastHiddenState: toTensor(out.question_embeds!) };
  }

  /** Empty key/value caches: the decoder graphs then run over the whole sequence. */
  private noPast(batch: number): Record<string, HostTensor> {
    const t = this.config.text_config;
    const dims = [batch, t.num_attention_heads, 0, t.hidden_size / t.num_attention_heads];
    const past: Record<string, HostTensor> = {};
    for (let i = 0; i < this.decoderLayers; i++) {
      past[`past_key_values.${i}.key`] = floats(new Float32Array(0), dims);
      past[`past_key_values.${i}.value`] = floats(new Float32Array(0), dims);
    }
    return past;
  }

  /** The cross-attention keys/values of a decoder over `states`, as the decoder graph's inputs. */
  private crossKeyValues(graph: 'caption_cross_kv' | 'answer_cross_kv', states: tf.Tensor): Record<string, Output> {
    return this.run(graph, { encoder_hidden_states: hostFloats(states) });
  }

  decode(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor): { logits: tf.Tensor } {
    const out = this.run('caption_decoder', {
      input_ids: hostIds(inputIds), attention_mask: hostIds(attentionMask), ...this.crossKeyValues('caption_cross_kv', imageEmbeds), ...this.noPast(inputIds.shape[0]!),
    });
    return { logits: toTensor(out.logits!) };
  }

  decodeAnswer(answerIds: tf.Tensor, answerMask: tf.Tensor, questionStates: tf.Tensor, questionMask: tf.Tensor): { logits: tf.Tensor } {
    const out = this.run('answer_decoder', {
      input_ids: hostIds(answerIds), attention_mask: hostIds(answerMask), ...this.crossKeyValues('answer_cross_kv', questionStates),
      encoder_attention_mask: hostIds(questionMask), ...this.noPast(answerIds.shape[0]!),
    });
    return { logits: toTensor(out.logits!) };
  }

  private cacheLayout(): CacheLayout {
    const t = this.config.text_config;
    return { layers: this.decoderLayers, heads: t.num_attention_heads, headDim: t.hidden_size / t.num_attention_heads };
  }

  private cached(cross: 'caption_cross_kv' | 'answer_cross_kv', decoder: 'caption_decoder' | 'answer_decoder', states: tf.Tensor, mask?: tf.Tensor): OnnxCachedDecoder {
    for (const g of [cross, decoder]) if (!this.graphNames.includes(g)) throw new Error(`this ${this.architecture} has no ${g} graph`);
    return new OnnxCachedDecoder(this.runner, { cross, decoder }, hostFloats(states), this.cacheLayout(), mask && hostIds(mask));
  }

  /** A key/value-cached decoder over the caption graphs, cross-attending to `imageEmbeds` (generation uses it). */
  cachedDecoder(imageEmbeds: tf.Tensor): OnnxCachedDecoder {
    return this.cached('caption_cross_kv', 'caption_decoder', imageEmbeds);
  }

  /**
   * A key/value-cached decoder over the answer graphs, cross-attending to `questionStates` under
   * `questionMask` (generateVqaAnswers uses it, as the TypeScript model's cache).
   */
  cachedAnswerDecoder(questionStates: tf.Tensor, questionMask: tf.Tensor): OnnxCachedDecoder {
    return this.cached('answer_cross_kv', 'answer_decoder', questionStates, questionMask);
  }

  /** Cached decoders whose state the worker still holds (each dispose frees its own; generation disposes in a finally). */
  openDecoderStates(): number {
    return this.runner.openDecoders();
  }

  async dispose(): Promise<void> {
    await this.runner.close();
  }
}
