// A tiny teacher and a narrower, shallower student (BlipForPreTraining, the real vocabulary so [ENC] /
// [DEC] ids exist), a padded batch, and their forward records as distillation computes them.
import { tf } from '../../src/engine/backend.js';
import { DEC_ID, ENC_ID, PAD_ID } from '../../src/data/tokenizer.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import type { BlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { pretrainForward } from '../../src/objectives/pretrain.js';
import type { ItmNegatives, PretrainBatch, PretrainOptions, PretrainRecord } from '../../src/objectives/pretrain.js';
import type { TermNeeds } from '../../src/distill/terms/index.js';

export function pairConfig(width: number, layers: number, heads = 2): BlipConfig {
  return parseBlipConfig(
    {
      image_text_hidden_size: 6,
      vision_config: { hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: heads, image_size: 8, patch_size: 4 },
      text_config: { vocab_size: 30524, hidden_size: width, encoder_hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: heads, max_position_embeddings: 40 },
    },
    `pairConfig(${width}, ${layers})`,
  );
}

export function pairModel(config: BlipConfig, seed: number): BlipForPreTraining {
  const model = createModel(config, 'BlipForPreTraining') as BlipForPreTraining;
  initParameters(model, seed);
  return model;
}

/** Teacher: width 12, 3 layers, 3 heads; student: width 8, 2 layers, 2 heads. */
export const teacherConfig = () => pairConfig(12, 3, 3);
export const studentConfig = () => pairConfig(8, 2, 2);

/** Three images with captions of 6 tokens, the last one padded after 4. */
export function pairBatch(): PretrainBatch {
  const ids = [
    [101, 1037, 2417, 4937, 2006, 102],
    [101, 1037, 2630, 3899, 2003, 102],
    [101, 2048, 3756, 102, PAD_ID, PAD_ID],
  ];
  return {
    pixels: tf.randomNormal([3, 3, 8, 8], 0, 1, 'float32', 7),
    inputIds: tf.tensor2d(ids, [3, 6], 'int32'),
    attentionMask: tf.tensor2d(ids.map((r) => r.map((t) => (t === PAD_ID ? 0 : 1))), [3, 6], 'int32'),
    imageIds: [0, 1, 2],
  };
}

export const objective: PretrainOptions = { weights: { itc: 0, itm: 0, lm: 0 }, alpha: 0, encTokenId: ENC_ID, decTokenId: DEC_ID, padTokenId: PAD_ID, labelSmoothing: 0 };

/** The student's record on given ITM pairs (call inside the tape). */
export function studentRecord(model: BlipForPreTraining, batch: PretrainBatch, needs: TermNeeds, negatives: ItmNegatives): PretrainRecord {
  return pretrainForward(model, batch, objective, undefined, { negatives }, needs);
}

