// The four modules that hidden-state and attention terms compare, where each one's outputs live in a
// forward record, its layer count and width, and which query rows count.
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import { gatherRows } from '../../engine/ops.js';
import type { BlipConfig } from '../../models/config.js';
import type { EncoderOutput } from '../../models/outputs.js';
import type { PretrainBatch, PretrainRecord, PretrainTerm } from '../../objectives/pretrain.js';
import { LayerMapSpecSchema, layerMap } from '../layer-map.js';
import type { LayerPair } from '../layer-map.js';
import { part } from './types.js';

const MODULES = ['vision', 'text', 'fused', 'decoder'] as const;
export type ModuleName = (typeof MODULES)[number];

/** A layer map per module to distil; at least one. */
export const ModuleMapsSchema = z
  .strictObject({ vision: LayerMapSpecSchema.optional(), text: LayerMapSpecSchema.optional(), fused: LayerMapSpecSchema.optional(), decoder: LayerMapSpecSchema.optional() })
  .refine((m) => Object.values(m).some((v) => v !== undefined), 'name at least one module: vision, text, fused or decoder');
export type ModuleMaps = z.infer<typeof ModuleMapsSchema>;

/** The pretrain term whose forward computes each module's outputs (vision runs always). */
const MODULE_TERM: Record<ModuleName, PretrainTerm | undefined> = { vision: undefined, text: 'itc', fused: 'itm', decoder: 'lm' };

const listed = (maps: ModuleMaps): ModuleName[] => MODULES.filter((m) => maps[m] !== undefined);

export function moduleTerms(maps: ModuleMaps): PretrainTerm[] {
  return listed(maps).flatMap((m) => (MODULE_TERM[m] ? [MODULE_TERM[m]] : []));
}

/** Each listed module's layer map, resolved against both models; errors name `where` and the module. */
export function moduleLayerMaps(maps: ModuleMaps, student: BlipConfig, teacher: BlipConfig, where: string): Map<ModuleName, LayerPair[]> {
  const resolved = new Map<ModuleName, LayerPair[]>();
  for (const m of listed(maps)) {
    try {
      resolved.set(m, layerMap(maps[m]!, layersOf(student, m), layersOf(teacher, m)));
    } catch (err) {
      throw new Error(`${where}.modules.${m}: ${(err as Error).message}`);
    }
  }
  return resolved;
}

/** The teacher layers each module's map reads. */
export function teacherSide(maps: Map<ModuleName, LayerPair[]>): Partial<Record<ModuleName, number[]>> {
  return Object.fromEntries([...maps].map(([m, pairs]) => [m, [...new Set(pairs.map(([, t]) => t))]]));
}

function layersOf(config: BlipConfig, module: ModuleName): number {
  return module === 'vision' ? config.vision_config.num_hidden_layers : config.text_config.num_hidden_layers;
}

export function widthOf(config: BlipConfig, module: ModuleName): number {
  return module === 'vision' ? config.vision_config.hidden_size : config.text_config.hidden_size;
}

/** Image tokens per image: patches and [CLS]. */
export function imageTokens(config: BlipConfig): number {
  return (config.vision_config.image_size / config.vision_config.patch_size) ** 2 + 1;
}

export function outputOf(record: PretrainRecord, module: ModuleName, who: string): EncoderOutput {
  const out = { vision: record.image, text: record.text, fused: record.fused, decoder: record.decoder }[module];
  return part(module, who, `${module} outputs`, out);
}

/** Counted query rows [N, T] of a module's text tokens (pads left out); none for vision. */
export function tokenMask(module: ModuleName, batch: PretrainBatch, student: PretrainRecord): tf.Tensor | undefined {
  if (module === 'vision') return undefined;
  if (module !== 'fused') return batch.attentionMask;
  // The fused pairs' texts: [positives; positives (negative images); negative texts].
  const negatives = part('fused', 'student', 'ITM negatives', student.negatives);
  const m = batch.attentionMask;
  return tf.concat([m, m, gatherRows(m, tf.tensor1d(Int32Array.from(negatives.textForImage), 'int32'))], 0);
}

/** Throws unless both models see the same number of image tokens (their vision states then line up). */
export function checkImageTokens(student: BlipConfig, teacher: BlipConfig, where: string): void {
  const [s, t] = [imageTokens(student), imageTokens(teacher)];
  if (s !== t) throw new Error(`${where}: the student sees ${s} image tokens and the teacher ${t} (image_size / patch_size differ); their states cannot be compared token by token`);
}
