// The four modules that hidden-state and attention terms compare, where each one's outputs live in a
// forward record, its layer count and width, and which query rows count.
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import type { BlipConfig } from '../../models/config.js';
import type { EncoderOutput } from '../../models/outputs.js';
import type { PretrainRecord, PretrainTerm } from '../../objectives/pretrain.js';
import { LayerMapSpecSchema, layerMap } from '../layer-map.js';
import type { LayerPair } from '../layer-map.js';
import { part } from './types.js';
import type { Narrowed, RecordPart, RecordRows } from './types.js';

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

/** The record part holding each module's outputs. */
const MODULE_PART: Record<ModuleName, RecordPart> = { vision: 'image', text: 'text', fused: 'fused', decoder: 'decoder' };

export function outputOf(record: PretrainRecord, module: ModuleName, who: string): EncoderOutput {
  return part(module, who, `${module} outputs`, record[MODULE_PART[module]] as EncoderOutput | undefined);
}

/** The module maps of the modules whose outputs the task's record has. */
export function narrowModules<O extends { modules: ModuleMaps }>(options: O, has: (part: RecordPart) => boolean): Narrowed<O> {
  const dropped = listed(options.modules).filter((m) => !has(MODULE_PART[m]));
  const kept = Object.fromEntries(Object.entries(options.modules).filter(([m]) => !dropped.includes(m as ModuleName)));
  return { options: Object.keys(kept).length > 0 ? { ...options, modules: kept } : undefined, dropped: dropped.map((m) => `modules.${m}`) };
}

/**
 * The tokens [N, T] of a module's rows that count: text pads and gated rows left out. Undefined when
 * every token counts (vision, nothing gated). `tokens` is T, the module's sequence length.
 */
export function countedTokens(rows: RecordRows, module: ModuleName, tokens: number): tf.Tensor | undefined {
  const mask = rows.tokens(module);
  const keep = rows.keep(module);
  if (!keep) return mask;
  const gate = keep.toFloat().reshape([-1, 1]);
  return mask ? tf.mul(mask.toFloat(), gate) : tf.tile(gate, [1, tokens]);
}

/** Throws unless both models see the same number of image tokens (their vision states then line up). */
export function checkImageTokens(student: BlipConfig, teacher: BlipConfig, where: string): void {
  const [s, t] = [imageTokens(student), imageTokens(teacher)];
  if (s !== t) throw new Error(`${where}: the student sees ${s} image tokens and the teacher ${t} (image_size / patch_size differ); their states cannot be compared token by token`);
}
