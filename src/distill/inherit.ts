// Student initialisation inherited from the teacher (TinyCLIP / DLIP-style weight inheritance): each
// mapped student layer starts as a copy of a teacher layer, and the tower's other parameters (embeddings,
// final layer norms, projections, heads) start as the teacher's where the shapes agree. Copies are
// whole tensors, so a tower inherits only from a teacher of its own width.
import type { BlipModel } from '../models/blip.js';
import type { Parameter } from '../nn/module.js';
import { layerMap } from './layer-map.js';
import type { LayerMapSpec } from './layer-map.js';

export type Tower = 'vision' | 'text';

/** Which teacher layer each student layer of a tower starts from; a tower left out keeps its init. */
export type InheritSpec = Partial<Record<Tower, LayerMapSpec>>;

export interface InheritSummary {
  /** Student parameter ← teacher parameter, by Hugging Face name. */
  copied: { student: string; teacher: string }[];
  /** Student parameters that kept their own init (unmapped layers, towers left out, shapes that differ). */
  kept: string[];
}

// The stacks of layers, as numbered in the parameter names. The decoder lists only its own
// self-attention under its layers; the rest of its layers is the text encoder's, shared.
const LAYER = /^(vision_model\.encoder\.layers|text_encoder\.encoder\.layer|text_decoder\.bert\.encoder\.layer)\.(\d+)\.(.+)$/;

/** The tower a parameter belongs to; undefined for what both share (the ITC temperature). */
function towerOf(name: string): Tower | undefined {
  if (name.startsWith('vision_model.') || name.startsWith('vision_proj.')) return 'vision';
  if (name.startsWith('text_encoder.') || name.startsWith('text_decoder.') || name.startsWith('text_proj.') || name.startsWith('itm_head.')) return 'text';
  return undefined;
}

const shapeOf = (p: Parameter) => `[${p.shape.join(', ')}]`;

function copy(to: Parameter, from: Parameter): void {
  // dataSync copies, so the student owns its values after the teacher is disposed.
  to.assign(from.value.dataSync() as Float32Array);
}

/**
 * Copies the teacher's layers into the student's by `spec`'s layer maps (1-based pairs, as everywhere in
 * distillation), and the non-layer parameters of the same towers whose shapes match; the shared
 * temperature comes along when any tower inherits. Both models must be materialised.
 */
export function inheritFromTeacher(student: BlipModel, teacher: BlipModel, spec: InheritSpec): InheritSummary {
  const configs = {
    vision: [student.config.vision_config, teacher.config.vision_config],
    text: [student.config.text_config, teacher.config.text_config],
  } as const;
  // Teacher layer (0-based) for each student layer (0-based), per inheriting tower.
  const sources = new Map<Tower, Map<number, number>>();
  for (const tower of ['vision', 'text'] as const) {
    const towerSpec = spec[tower];
    if (towerSpec === undefined) continue;
    const [s, t] = configs[tower];
    if (s.hidden_size !== t.hidden_size) {
      throw new Error(`inherit: the student's ${tower} tower is ${s.hidden_size} wide and the teacher's ${t.hidden_size}; layers are copied whole, so inheritance needs equal widths`);
    }
    sources.set(tower, new Map(layerMap(towerSpec, s.num_hidden_layers, t.num_hidden_layers).map(([i, j]) => [i - 1, j - 1])));
  }

  const teacherParams = teacher.namedParameters();
  const summary: InheritSummary = { copied: [], kept: [] };
  for (const [name, p] of student.namedParameters()) {
    const tower = towerOf(name);
    const layer = LAYER.exec(name);
    if (layer) {
      const from = sources.get(tower!)?.get(Number(layer[2]));
      if (from === undefined) {
        summary.kept.push(name);
        continue;
      }
      const source = `${layer[1]}.${from}.${layer[3]}`;
      const t = teacherParams.get(source);
      if (!t) throw new Error(`inherit: ${name} has no teacher counterpart ${source}`);
      if (shapeOf(t) !== shapeOf(p)) throw new Error(`inherit: ${name} is ${shapeOf(p)} and the teacher's ${source} ${shapeOf(t)}; inherited layers need identical shapes`);
      copy(p, t);
      summary.copied.push({ student: name, teacher: source });
      continue;
    }
    // Non-layer parameters: copied where the shape matches (a different vocabulary or position count keeps init).
    const inherits = tower === undefined ? sources.size > 0 : sources.has(tower);
    const t = teacherParams.get(name);
    if (inherits && t && shapeOf(t) === shapeOf(p)) {
      copy(p, t);
      summary.copied.push({ student: name, teacher: name });
    } else {
      summary.kept.push(name);
    }
  }
  return summary;
}
