// Which student layer learns from which teacher layer. Layers are numbered from 1 as in the papers;
// hidden state 0 is the embedding output, so layer ℓ's output is hiddenStates[ℓ] and its attention
// probabilities are attentions[ℓ − 1].
import { z } from 'zod';

/** [student layer, teacher layer], both 1-based. */
export type LayerPair = readonly [student: number, teacher: number];

const layerNumber = z.number().int();

/** "uniform": student i ↔ teacher ⌈i·Lt/Ls⌉; "last": the last layers only; or explicit pairs. */
export const LayerMapSpecSchema = z.union([z.literal('uniform'), z.literal('last'), z.array(z.tuple([layerNumber, layerNumber])).min(1)]);
export type LayerMapSpec = z.infer<typeof LayerMapSpecSchema>;

function layerCount(n: number, who: string): void {
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`layer map: the ${who} must have a positive whole number of layers, got ${n}`);
}

/** The pairs a spec stands for between a student of `studentLayers` and a teacher of `teacherLayers`. */
export function layerMap(spec: LayerMapSpec, studentLayers: number, teacherLayers: number): LayerPair[] {
  layerCount(studentLayers, 'student');
  layerCount(teacherLayers, 'teacher');
  if (spec === 'last') return [[studentLayers, teacherLayers]];
  if (spec === 'uniform') {
    // ⌈i·Lt/Ls⌉ in integers: the student's last layer always meets the teacher's last.
    return Array.from({ length: studentLayers }, (_, k) => [k + 1, Math.floor(((k + 1) * teacherLayers + studentLayers - 1) / studentLayers)] as const);
  }
  if (spec.length === 0) throw new Error('layer map: the list of [student, teacher] pairs is empty');
  const seen = new Set<number>();
  for (const [s, t] of spec) {
    const pair = `[${s}, ${t}]`;
    if (!(Number.isInteger(s) && s >= 1 && s <= studentLayers)) throw new Error(`layer map pair ${pair}: student layer ${s} is outside 1..${studentLayers}`);
    if (!(Number.isInteger(t) && t >= 1 && t <= teacherLayers)) throw new Error(`layer map pair ${pair}: teacher layer ${t} is outside 1..${teacherLayers}`);
    if (seen.has(s)) throw new Error(`layer map pair ${pair}: student layer ${s} is mapped more than once`);
    seen.add(s);
  }
  return spec.map(([s, t]) => [s, t] as const);
}
