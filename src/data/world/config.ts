// The difficulty knobs of the built-in world and its named sizes.
import { z } from 'zod';
import { COLOURS, SHAPES, SIZES } from './vocabulary.js';

/**
 * Everything that sets how hard the world is. Harder: more shapes/colours/objects, more noise and
 * texture, more jitter, more answer noise. The defaults match the calibration world of issue 4
 * (32 px, 1-3 objects, 5 shapes, 8 colours, 2 sizes, 3×3 positions, noisy light background).
 */
export const WorldConfigSchema = z.object({
  /** Rendered image side in pixels (loaders resize to the model's resolution). */
  imageSize: z.number().int().min(16).max(1024).default(32),
  /** Shapes in use (at least 2). */
  shapes: z.array(z.enum(SHAPES)).min(2).default(['circle', 'square', 'triangle', 'star', 'cross']),
  /** Colours in use (at least 2). */
  colours: z.array(z.enum(COLOURS)).min(2).default(['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'cyan', 'black']),
  /** Sizes in use. */
  sizes: z.array(z.enum(SIZES)).min(1).default(['small', 'large']),
  /** Objects per scene, each in its own cell of a 3×3 grid. */
  minObjects: z.number().int().min(1).max(9).default(1),
  maxObjects: z.number().int().min(1).max(9).default(3),
  /** Per-pixel noise amplitude (0..1 of the full 0..255 range, uniform ±). */
  noise: z.number().min(0).max(1).default(0.12),
  /** Number of faint distractor strokes drawn on the background. */
  textureStrokes: z.number().int().min(0).max(64).default(4),
  /** Random shade variation of each object's colour (0..1, ±fraction of 255 per channel). */
  colourJitter: z.number().min(0).max(0.5).default(0.08),
  /** How far an object may move from its cell centre (0 = centred, 1 = up to the cell edge). */
  positionJitter: z.number().min(0).max(1).default(0.5),
  /** Maximum rotation of non-circular shapes, degrees. */
  maxRotation: z.number().min(0).max(180).default(20),
  /** Captions per image (all different). */
  captionsPerImage: z.number().int().min(1).max(10).default(5),
  /** VQA questions per image. */
  questionsPerImage: z.number().int().min(0).max(20).default(4),
  /** Probability that each of the 10 VQA answers is a synonym or a mistake instead of the truth. */
  answerNoise: z.number().min(0).max(0.5).default(0.1),
  /** Probability that a caption names an object by a synonym (violet, disc, ...). */
  synonymRate: z.number().min(0).max(1).default(0.3),
}).refine((c) => c.minObjects <= c.maxObjects, { message: 'minObjects must be <= maxObjects', path: ['minObjects'] });

export type WorldConfig = z.infer<typeof WorldConfigSchema>;
export type WorldConfigInput = z.input<typeof WorldConfigSchema>;

export interface SplitSizes {
  train: number;
  val: number;
  test: number;
}

/** Named sizes: tiny for tests, small for the demo (the calibration's 4,000 training images), large on request. */
export const WORLD_SIZES: Record<'tiny' | 'small' | 'large', SplitSizes> = {
  tiny: { train: 16, val: 4, test: 4 },
  small: { train: 4000, val: 500, test: 500 },
  large: { train: 40000, val: 2000, test: 2000 },
};
export type WorldSizeName = keyof typeof WORLD_SIZES;

/** Splits N images 80/10/10 (at least one image in each split). */
export function splitSizesFor(total: number): SplitSizes {
  if (!Number.isInteger(total) || total < 3) throw new Error(`--images must be a size name (${Object.keys(WORLD_SIZES).join(', ')}) or an integer >= 3, got ${total}`);
  const val = Math.max(1, Math.round(total * 0.1));
  const test = Math.max(1, Math.round(total * 0.1));
  return { train: total - val - test, val, test };
}

export function parseWorldConfig(input: WorldConfigInput = {}): WorldConfig {
  const result = WorldConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new Error(`invalid world config:\n${lines.join('\n')}`);
  }
  return result.data;
}
