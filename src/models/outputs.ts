import type { tf } from '../engine/backend.js';

/** What a forward pass should return besides its output; distillation asks for both. */
export interface OutputOptions {
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}

export interface EncoderOutput {
  lastHiddenState: tf.Tensor;
  /** Embedding output, then the output of every layer (before any final LayerNorm). */
  hiddenStates?: tf.Tensor[];
  /** Self-attention probabilities per layer, [B, H, T, T]. */
  attentions?: tf.Tensor[];
  /** Cross-attention probabilities per layer, [B, H, T, T_image], when cross-attending. */
  crossAttentions?: tf.Tensor[];
}
