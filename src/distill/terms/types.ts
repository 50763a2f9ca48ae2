// What a distillation term is: its options (a zod schema), what it needs both models' forwards to
// produce, a check of the student/teacher pair, and its loss from the two forward records.
import type { z } from 'zod';
import type { tf } from '../../engine/backend.js';
import type { BlipForPreTraining } from '../../models/blip.js';
import type { BlipConfig } from '../../models/config.js';
import type { PretrainBatch, PretrainRecord, PretrainTerm } from '../../objectives/pretrain.js';
import type { AdaptorSet, LayerAdaptors } from '../adaptor.js';
import type { TopKTeacher } from '../lm-kd.js';
import type { ModuleName } from './modules.js';

/** Every term's options carry its weight in the total loss. */
export interface TermOptions {
  weight: number;
}

/** Which record parts (by the pretrain term that computes them) and outputs both forwards must return. */
export interface TermNeeds {
  terms: PretrainTerm[];
  hiddenStates?: boolean;
  attentions?: boolean;
}

/** The teacher's record; from a teacher-target cache its LM part is the top-k logits, not decoder states. */
export interface TeacherRecord extends PretrainRecord {
  lmTopK?: TopKTeacher;
}

/** Teacher layers (1-based) a term reads per module, so a cache of teacher outputs keeps only those. */
export interface TeacherLayers {
  hiddenStates?: Partial<Record<ModuleName, number[]>>;
  attentions?: Partial<Record<ModuleName, number[]>>;
}

export interface TermContext<O> {
  options: O;
  /** The run's adaptors (towers named by module: vision, text, fused, decoder). */
  adaptors: AdaptorSet;
  student: BlipForPreTraining;
  teacher: BlipForPreTraining;
  batch: PretrainBatch;
}

export interface DistillTerm<O extends TermOptions> {
  name: string;
  schema: z.ZodType<O>;
  needs(options: O): TermNeeds;
  /** Throws, naming the option and both sizes, when this pair cannot be compared as the options ask. */
  check(student: BlipConfig, teacher: BlipConfig, options: O): void;
  /** Width adaptors the term trains, by module. */
  adaptors?(student: BlipConfig, teacher: BlipConfig, options: O): Record<string, LayerAdaptors>;
  /** The teacher's hidden-state and attention layers the loss reads; none when absent. */
  teacherLayers?(student: BlipConfig, teacher: BlipConfig, options: O): TeacherLayers;
  /** The unweighted loss; called inside the gradient tape with the teacher's record made outside it. */
  loss(student: PretrainRecord, teacher: TeacherRecord, ctx: TermContext<O>): tf.Scalar;
}

/** A record part a term needs, or an error naming it (the forward was made without it). */
export function part<T>(term: string, who: string, name: string, value: T | undefined): T {
  if (value === undefined) throw new Error(`distill term ${term}: the ${who} record lacks its ${name}`);
  return value;
}
