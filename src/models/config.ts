// BLIP model configuration with the Hugging Face field names, so a HF `config.json` loads as is.
// Validated once here; everything past this module works with plain typed data. Defaults are the
// HF config classes' defaults, because HF writes config.json without the fields equal to them.
import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const VisionConfigSchema = z.looseObject({
  hidden_size: positiveInt.default(768),
  intermediate_size: positiveInt.default(3072),
  num_hidden_layers: positiveInt.default(12),
  num_attention_heads: positiveInt.default(12),
  image_size: positiveInt.default(384),
  patch_size: positiveInt.default(16),
  layer_norm_eps: z.number().positive().default(1e-5),
  hidden_act: z.literal('gelu').default('gelu'),
});

export const TextConfigSchema = z.looseObject({
  vocab_size: positiveInt.default(30524),
  hidden_size: positiveInt.default(768),
  encoder_hidden_size: positiveInt.default(768),
  intermediate_size: positiveInt.default(3072),
  num_hidden_layers: positiveInt.default(12),
  num_attention_heads: positiveInt.default(8),
  max_position_embeddings: positiveInt.default(512),
  layer_norm_eps: z.number().positive().default(1e-12),
  hidden_act: z.literal('gelu').default('gelu'),
  pad_token_id: z.number().int().nonnegative().default(0),
  bos_token_id: z.number().int().nonnegative().default(30522),
  sep_token_id: z.number().int().nonnegative().default(102),
});

export const ARCHITECTURES = [
  'BlipForImageTextRetrieval',
  'BlipForConditionalGeneration',
  'BlipForQuestionAnswering',
  'BlipForPreTraining',
] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export const BlipConfigSchema = z
  .looseObject({
    architectures: z.array(z.string()).optional(),
    vision_config: VisionConfigSchema.default(VisionConfigSchema.parse({})),
    text_config: TextConfigSchema.default(TextConfigSchema.parse({})),
    /** Output width of vision_proj / text_proj (the ITC space). */
    image_text_hidden_size: positiveInt.default(256),
    /** dlip: in BlipForPreTraining the decoder shares every parameter with the text encoder but self-attention. */
    share_decoder_with_encoder: z.boolean().default(true),
    /**
     * Std of the normal init of every weight and embedding when training from scratch (HF BlipConfig's
     * field; 0.02 as BLIP and BERT). Narrow models need more: at width 256, 0.02 leaves the text
     * encoder's CLS features of different captions at cosine ~0.999 and ITC cannot start.
     */
    initializer_range: z.number().positive().default(0.02),
    /** dlip: initial ITC temperature of BlipForPreTraining. */
    temp_init: z.number().positive().default(0.07),
  })
  .superRefine((c, ctx) => {
    const check = (ok: boolean, path: string[], message: string) => {
      if (!ok) ctx.addIssue({ code: 'custom', path, message });
    };
    const v = c.vision_config;
    const t = c.text_config;
    check(v.hidden_size % v.num_attention_heads === 0, ['vision_config', 'num_attention_heads'],
      `vision hidden_size ${v.hidden_size} is not divisible by num_attention_heads ${v.num_attention_heads}`);
    check(v.image_size % v.patch_size === 0, ['vision_config', 'patch_size'],
      `image_size ${v.image_size} is not divisible by patch_size ${v.patch_size}`);
    check(t.hidden_size % t.num_attention_heads === 0, ['text_config', 'num_attention_heads'],
      `text hidden_size ${t.hidden_size} is not divisible by num_attention_heads ${t.num_attention_heads}`);
    check(t.encoder_hidden_size === v.hidden_size, ['text_config', 'encoder_hidden_size'],
      `text encoder_hidden_size ${t.encoder_hidden_size} must equal the vision hidden_size ${v.hidden_size} (cross-attention reads image tokens)`);
  });

export type VisionConfig = z.infer<typeof VisionConfigSchema>;
export type TextConfig = z.infer<typeof TextConfigSchema>;
export type BlipConfig = z.infer<typeof BlipConfigSchema>;

/** Validates a parsed config object; `source` names the file or preset in the error. */
export function parseBlipConfig(raw: unknown, source: string): BlipConfig {
  const result = BlipConfigSchema.safeParse(raw);
  if (!result.success) throw new Error(`invalid model config in ${source}:\n${z.prettifyError(result.error)}`);
  return result.data;
}

/** The architecture named by the config (first of `architectures`), if it is one dlip builds. */
export function configArchitecture(config: BlipConfig): Architecture | undefined {
  const name = config.architectures?.[0];
  return (ARCHITECTURES as readonly string[]).includes(name ?? '') ? (name as Architecture) : undefined;
}
