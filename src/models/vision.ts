// BLIP's image encoder: a ViT with pre-norm blocks and a fused qkv projection (HF BlipVisionModel).
import { tf } from '../engine/backend.js';
import { attention, gelu, linear } from '../engine/ops.js';
import { attentionMacs } from '../nn/attention.js';
import { LayerNorm, Linear } from '../nn/layers.js';
import { Module, ModuleList } from '../nn/module.js';
import type { Parameter } from '../nn/module.js';
import type { VisionConfig } from './config.js';
import type { EncoderOutput, OutputOptions } from './outputs.js';

/** Conv2d with kernel = stride = patch size, stored as PyTorch's [out, in, kh, kw]. */
class PatchEmbedding extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    readonly width: number,
    readonly patch: number,
  ) {
    super();
    this.weight = this.param('weight', [width, 3, patch, patch], { kind: 'normal' });
    this.bias = this.param('bias', [width], { kind: 'zeros' });
  }

  /** pixels [B, 3, S, S] → patch tokens [B, (S/p)², width] */
  forward(pixels: tf.Tensor): tf.Tensor {
    const [batch, channels, size] = pixels.shape as [number, number, number, number];
    const p = this.patch;
    const g = size / p;
    // A stride-p, kernel-p convolution is a linear map of each flattened p×p patch.
    const patches = pixels
      .reshape([batch, channels, g, p, g, p])
      .transpose([0, 2, 4, 1, 3, 5])
      .reshape([batch, g * g, channels * p * p]);
    return linear(patches, this.weight.value.reshape([this.width, channels * p * p]), this.bias.value);
  }
}

export class VisionEmbeddings extends Module {
  readonly classEmbedding: Parameter;
  readonly patchEmbedding: PatchEmbedding;
  readonly positionEmbedding: Parameter;

  constructor(readonly config: VisionConfig) {
    super();
    const { hidden_size: width, patch_size: patch, image_size: size } = config;
    this.classEmbedding = this.param('class_embedding', [1, 1, width], { kind: 'normal' });
    this.patchEmbedding = this.child('patch_embedding', new PatchEmbedding(width, patch));
    this.positionEmbedding = this.param('position_embedding', [1, (size / patch) ** 2 + 1, width], { kind: 'normal' });
  }

  /** pixels [B, 3, S, S] (NCHW, normalised) → tokens [B, 1 + (S/p)², D] */
  forward(pixels: tf.Tensor): tf.Tensor {
    const size = this.config.image_size;
    if (pixels.rank !== 4 || pixels.shape[1] !== 3 || pixels.shape[2] !== size || pixels.shape[3] !== size) {
      throw new Error(`pixel_values has shape [${pixels.shape.join(',')}]; this model expects [B,3,${size},${size}]`);
    }
    const batch = pixels.shape[0]!;
    const cls = tf.tile(this.classEmbedding.value, [batch, 1, 1]);
    return tf.add(tf.concat([cls, this.patchEmbedding.forward(pixels)], 1), this.positionEmbedding.value);
  }
}

class VisionAttention extends Module {
  readonly qkv: Linear;
  readonly projection: Linear;

  constructor(
    readonly width: number,
    readonly heads: number,
  ) {
    super();
    this.qkv = this.child('qkv', new Linear(width, 3 * width));
    this.projection = this.child('projection', new Linear(width, width));
  }

  forward(x: tf.Tensor): { output: tf.Tensor; probs: tf.Tensor } {
    // Fused projection rows are [q; k; v], each head-major.
    const [q, k, v] = tf.split(this.qkv.forward(x), 3, 2) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const { context, probs } = attention(q, k, v, this.heads);
    return { output: this.projection.forward(context), probs };
  }

  macs(tokens: number): number {
    return this.qkv.macs(tokens) + attentionMacs(tokens, tokens, this.width) + this.projection.macs(tokens);
  }
}

class VisionMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(width: number, intermediate: number) {
    super();
    this.fc1 = this.child('fc1', new Linear(width, intermediate));
    this.fc2 = this.child('fc2', new Linear(intermediate, width));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }

  macs(tokens: number): number {
    return this.fc1.macs(tokens) + this.fc2.macs(tokens);
  }
}

/** Pre-norm block: x + Attn(LN(x)); x + MLP(LN(x)). */
class VisionLayer extends Module {
  readonly selfAttn: VisionAttention;
  readonly layerNorm1: LayerNorm;
  readonly mlp: VisionMlp;
  readonly layerNorm2: LayerNorm;

  constructor(config: VisionConfig) {
    super();
    const width = config.hidden_size;
    this.selfAttn = this.child('self_attn', new VisionAttention(width, config.num_attention_heads));
    this.layerNorm1 = this.child('layer_norm1', new LayerNorm(width, config.layer_norm_eps));
    this.mlp = this.child('mlp', new VisionMlp(width, config.intermediate_size));
    this.layerNorm2 = this.child('layer_norm2', new LayerNorm(width, config.layer_norm_eps));
  }

  forward(x: tf.Tensor): { output: tf.Tensor; probs: tf.Tensor } {
    const attn = this.selfAttn.forward(this.layerNorm1.forward(x));
    const h = tf.add(x, attn.output);
    return { output: tf.add(h, this.mlp.forward(this.layerNorm2.forward(h))), probs: attn.probs };
  }

  macs(tokens: number): number {
    return this.selfAttn.macs(tokens) + this.mlp.macs(tokens);
  }
}

class VisionEncoder extends Module {
  readonly layers: readonly VisionLayer[];

  constructor(config: VisionConfig) {
    super();
    const layers = Array.from({ length: config.num_hidden_layers }, () => new VisionLayer(config));
    this.layers = this.child('layers', new ModuleList(layers)).items;
  }
}

export class VisionModel extends Module {
  readonly embeddings: VisionEmbeddings;
  readonly encoder: VisionEncoder;
  readonly postLayernorm: LayerNorm;

  constructor(readonly config: VisionConfig) {
    super();
    this.embeddings = this.child('embeddings', new VisionEmbeddings(config));
    this.encoder = this.child('encoder', new VisionEncoder(config));
    this.postLayernorm = this.child('post_layernorm', new LayerNorm(config.hidden_size, config.layer_norm_eps));
  }

  get tokens(): number {
    return (this.config.image_size / this.config.patch_size) ** 2 + 1;
  }

  /** pixels [B, 3, S, S] → image tokens [B, 1 + (S/p)², D], after the final LayerNorm. */
  forward(pixels: tf.Tensor, options: OutputOptions = {}): EncoderOutput {
    let x = this.embeddings.forward(pixels);
    const hiddenStates = options.outputHiddenStates ? [x] : undefined;
    const attentions = options.outputAttentions ? ([] as tf.Tensor[]) : undefined;
    for (const layer of this.encoder.layers) {
      const out = layer.forward(x);
      x = out.output;
      hiddenStates?.push(x);
      attentions?.push(out.probs);
    }
    return { lastHiddenState: this.postLayernorm.forward(x), hiddenStates, attentions };
  }

  /** HF's pooler_output: the CLS token of last_hidden_state LayerNorm'ed a second time (as HF does). */
  pooledOutput(lastHiddenState: tf.Tensor): tf.Tensor {
    const cls = lastHiddenState.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]);
    return this.postLayernorm.forward(cls);
  }

  /** Multiply-accumulates of one image's forward. */
  macs(): number {
    const { patch_size: p, hidden_size: width } = this.config;
    const patches = this.tokens - 1;
    const embed = patches * 3 * p * p * width;
    return embed + this.encoder.layers.reduce((n, layer) => n + layer.macs(this.tokens), 0);
  }
}
