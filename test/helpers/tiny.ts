// A very small BLIP config for tests that need a real model but not the fixtures.
import { parseBlipConfig } from '../../src/models/config.js';
import type { BlipConfig } from '../../src/models/config.js';

export function tinyConfig(overrides: { imageSize?: number; vocab?: number; positions?: number } = {}): BlipConfig {
  return parseBlipConfig(
    {
      image_text_hidden_size: 6,
      vision_config: { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2, image_size: overrides.imageSize ?? 8, patch_size: 4 },
      text_config: { vocab_size: overrides.vocab ?? 20, hidden_size: 8, encoder_hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: overrides.positions ?? 12 },
    },
    'tinyConfig()',
  );
}
