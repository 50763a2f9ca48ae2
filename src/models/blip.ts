// The task models of the Hugging Face BLIP port, plus the pre-training composite of the paper.
// Keys follow the HF checkpoints: vision_model.*, text_encoder.*, text_decoder.{bert,cls}.*, heads.
import { tf } from '../engine/backend.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Parameter } from '../nn/module.js';
import type { Architecture, BlipConfig } from './config.js';
import type { EncoderOutput, OutputOptions } from './outputs.js';
import { LMHead, TextModel } from './text.js';
import type { DecodeStepContext, KeyValue, TextForwardOptions } from './text.js';
import { VisionModel } from './vision.js';

/** Sequence lengths at which FLOPs are counted per task (BLIP's defaults). */
export const FLOP_LENGTHS = { text: 35, caption: 20, answer: 10 } as const;

/** A causal text model with its LM head (HF BlipTextLMHeadModel: `bert.*`, `cls.*`). */
export class TextDecoder extends Module {
  readonly bert: TextModel;
  readonly cls: LMHead;

  constructor(config: BlipConfig['text_config'], shareWith?: TextModel) {
    super();
    this.bert = this.child('bert', new TextModel(config, shareWith));
    this.cls = this.child('cls', new LMHead(config));
  }

  /** Teacher-forced logits [B, T, vocab]; position t predicts token t+1. */
  forward(inputIds: tf.Tensor, attentionMask: tf.Tensor, options: TextForwardOptions = {}): EncoderOutput & { logits: tf.Tensor } {
    const out = this.bert.forward(inputIds, attentionMask, { ...options, causal: true });
    return { ...out, logits: this.cls.forward(out.lastHiddenState) };
  }

  /**
   * Next-token logits [N, vocab] of the last of the new tokens `inputIds` [N, t], decoded after the
   * cached keys/values in `ctx`, and the keys/values to cache for the next step (TextModel.decodeStep).
   */
  decodeStep(inputIds: tf.Tensor, ctx: DecodeStepContext): { logits: tf.Tensor; keyValues: KeyValue[] } {
    const { lastHiddenState, keyValues } = this.bert.decodeStep(inputIds, ctx);
    const [n, t, width] = lastHiddenState.shape as [number, number, number];
    // Only the last position is read: the vocabulary projection skips the others.
    return { logits: this.cls.forward(lastHiddenState.slice([0, t - 1, 0], [n, 1, width]).reshape([n, width])), keyValues };
  }

  macs(tokens: number, crossTokens: number): number {
    return this.bert.macs(tokens, crossTokens) + this.cls.macs(tokens);
  }
}

function firstToken(states: tf.Tensor): tf.Tensor {
  return states.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]);
}

/** L2-normalises rows as F.normalize(eps=1e-12). */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12));
}

/** Common base: every task model has the image encoder and a config. */
export abstract class BlipModel extends Module {
  abstract readonly architecture: Architecture;
  readonly visionModel: VisionModel;

  constructor(readonly config: BlipConfig) {
    super();
    this.visionModel = this.child('vision_model', new VisionModel(config.vision_config));
  }

  encodeImage(pixelValues: tf.Tensor, options: OutputOptions = {}): EncoderOutput {
    return this.visionModel.forward(pixelValues, options);
  }

  /** Multiply-accumulates of one forward on one image-text example at the configured resolution. */
  abstract macs(): number;
}

export class BlipForImageTextRetrieval extends BlipModel {
  readonly architecture: Architecture = 'BlipForImageTextRetrieval';
  readonly textEncoder: TextModel;
  readonly visionProj: Linear;
  readonly textProj: Linear;
  readonly itmHead: Linear;

  constructor(config: BlipConfig) {
    super(config);
    const t = config.text_config;
    this.textEncoder = this.child('text_encoder', new TextModel(t));
    this.visionProj = this.child('vision_proj', new Linear(config.vision_config.hidden_size, config.image_text_hidden_size));
    this.textProj = this.child('text_proj', new Linear(t.hidden_size, config.image_text_hidden_size));
    this.itmHead = this.child('itm_head', new Linear(t.hidden_size, 2));
  }

  /** Unnormalised ITC projection of the image CLS token [B, P]. */
  imageProjection(imageEmbeds: tf.Tensor): tf.Tensor {
    return this.visionProj.forward(firstToken(imageEmbeds));
  }

  /** Unnormalised ITC projection of the text CLS token [B, P]. */
  textProjection(textStates: tf.Tensor): tf.Tensor {
    return this.textProj.forward(firstToken(textStates));
  }

  /** Unimodal text encoding (no cross-attention). */
  encodeText(inputIds: tf.Tensor, attentionMask: tf.Tensor, options: OutputOptions = {}): EncoderOutput {
    return this.textEncoder.forward(inputIds, attentionMask, options);
  }

  /** Image-grounded text encoding: every image token is attended to. */
  encodeMultimodal(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor, options: OutputOptions = {}): EncoderOutput {
    return this.textEncoder.forward(inputIds, attentionMask, { ...options, encoderHiddenStates: imageEmbeds });
  }

  /** ITM logits [B, 2] = [no-match, match] of pair b (image b, text b). */
  itmLogits(multimodalStates: tf.Tensor): tf.Tensor {
    return this.itmHead.forward(firstToken(multimodalStates));
  }

  /** Cosine similarity [images, texts] of the ITC features, without temperature. */
  similarity(imageEmbeds: tf.Tensor, textStates: tf.Tensor): tf.Tensor {
    const image = l2Normalize(this.imageProjection(imageEmbeds));
    const text = l2Normalize(this.textProjection(textStates));
    return tf.matMul(image, text, false, true);
  }

  macs(): number {
    // One image-text pair: image, unimodal text for ITC, image-grounded text for ITM.
    const t = FLOP_LENGTHS.text;
    return (
      this.visionModel.macs() +
      this.textEncoder.macs(t, 0) +
      this.textEncoder.macs(t, this.visionModel.tokens) +
      this.visionProj.macs(1) +
      this.textProj.macs(1) +
      this.itmHead.macs(1)
    );
  }
}

export class BlipForConditionalGeneration extends BlipModel {
  readonly architecture: Architecture = 'BlipForConditionalGeneration';
  readonly textDecoder: TextDecoder;

  constructor(config: BlipConfig) {
    super(config);
    this.textDecoder = this.child('text_decoder', new TextDecoder(config.text_config));
  }

  /** Caption logits [B, T, vocab] for `inputIds` given the image tokens. */
  decode(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor, options: OutputOptions = {}) {
    return this.textDecoder.forward(inputIds, attentionMask, { ...options, encoderHiddenStates: imageEmbeds });
  }

  macs(): number {
    // One teacher-forced pass over a caption: the cost of scoring it (generation repeats the decoder).
    return this.visionModel.macs() + this.textDecoder.macs(FLOP_LENGTHS.caption, this.visionModel.tokens);
  }
}

export class BlipForQuestionAnswering extends BlipModel {
  readonly architecture: Architecture = 'BlipForQuestionAnswering';
  readonly textEncoder: TextModel;
  readonly textDecoder: TextDecoder;

  constructor(config: BlipConfig) {
    super(config);
    this.textEncoder = this.child('text_encoder', new TextModel(config.text_config));
    this.textDecoder = this.child('text_decoder', new TextDecoder(config.text_config));
  }

  /** Question states [B, Tq, W]: the question read against the image. */
  encodeQuestion(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor, options: OutputOptions = {}): EncoderOutput {
    return this.textEncoder.forward(inputIds, attentionMask, { ...options, encoderHiddenStates: imageEmbeds });
  }

  /** Answer logits [B, Ta, vocab]; the decoder cross-attends to the question states under its mask. */
  decodeAnswer(
    answerIds: tf.Tensor,
    answerMask: tf.Tensor,
    questionStates: tf.Tensor,
    questionMask: tf.Tensor,
    options: OutputOptions = {},
  ) {
    return this.textDecoder.forward(answerIds, answerMask, { ...options, encoderHiddenStates: questionStates, encoderAttentionMask: questionMask });
  }

  macs(): number {
    const t = FLOP_LENGTHS.text;
    return this.visionModel.macs() + this.textEncoder.macs(t, this.visionModel.tokens) + this.textDecoder.macs(FLOP_LENGTHS.answer, t);
  }
}

/**
 * BLIP's pre-training model: retrieval heads, a decoder that shares every text-encoder parameter
 * but self-attention (when `share_decoder_with_encoder`), and the learnable ITC temperature.
 */
export class BlipForPreTraining extends BlipForImageTextRetrieval {
  override readonly architecture: Architecture = 'BlipForPreTraining';
  readonly textDecoder: TextDecoder;
  readonly temp: Parameter;

  constructor(config: BlipConfig) {
    super(config);
    const shared = config.share_decoder_with_encoder ? this.textEncoder : undefined;
    this.textDecoder = this.child('text_decoder', new TextDecoder(config.text_config, shared));
    this.temp = this.param('temp', [], { kind: 'constant', value: config.temp_init });
  }

  decode(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor, options: OutputOptions = {}) {
    return this.textDecoder.forward(inputIds, attentionMask, { ...options, encoderHiddenStates: imageEmbeds });
  }

  override macs(): number {
    return super.macs() + this.textDecoder.macs(FLOP_LENGTHS.text, this.visionModel.tokens);
  }
}

const MODEL_CLASSES: Record<Architecture, new (config: BlipConfig) => BlipModel> = {
  BlipForImageTextRetrieval,
  BlipForConditionalGeneration,
  BlipForQuestionAnswering,
  BlipForPreTraining,
};

/** Builds the model skeleton (shapes only; see initParameters and loading). */
export function createModel(config: BlipConfig, architecture: Architecture): BlipModel {
  // Object.hasOwn: an architecture read from a file could be "toString" or "__proto__".
  if (!Object.hasOwn(MODEL_CLASSES, architecture)) {
    throw new Error(`unknown architecture "${architecture}"; dlip builds ${Object.keys(MODEL_CLASSES).join(', ')}`);
  }
  return new MODEL_CLASSES[architecture](config);
}
