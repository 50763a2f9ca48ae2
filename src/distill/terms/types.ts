// What a distillation term is: its options (a zod schema), what it needs both models' forwards to
// produce, a check of the student/teacher pair, how it narrows to the parts a task's model has, and
// its loss from the two forward records.
import type { z } from 'zod';
import type { tf } from '../../engine/backend.js';
import type { TextDecoder } from '../../models/blip.js';
import type { BlipConfig } from '../../models/config.js';
import type { PretrainRecord, PretrainTerm } from '../../objectives/pretrain.js';
import type { AdaptorSet, LayerAdaptors } from '../adaptor.js';
import type { SequenceWeights, TopKTeacher } from '../lm-kd.js';
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

/** A named part of a forward record (the pre-training record's, which the VQA record reuses). */
export type RecordPart = Exclude<keyof PretrainRecord, 'negatives' | 'itcTargets'>;

/** What the terms read of a model: its config and (LM KD) its decoder's vocabulary projection. */
export interface DistilledModel {
  config: BlipConfig;
  textDecoder: TextDecoder;
}

/** Which rows and tokens of each module's outputs count, built per batch by the distillation run. */
export interface RecordRows {
  /** Counted tokens [N, T] of a text module's rows (pads out); undefined for vision, where every token counts. */
  tokens(module: ModuleName): tf.Tensor | undefined;
  /** Per-row gate [N] (1 = the row's sample teaches through KD, 0 = gated); undefined when nothing is gated. */
  keep(module: ModuleName): tf.Tensor | undefined;
  /** How a module's rows weigh in a per-token loss when they are not equals (VQA's answer rows); undefined: a mean over tokens. */
  sequenceWeights?(module: ModuleName): SequenceWeights | undefined;
}

export interface TermContext<O> {
  options: O;
  /** The run's adaptors (towers named by module: vision, text, fused, decoder). */
  adaptors: AdaptorSet;
  student: DistilledModel;
  teacher: DistilledModel;
  rows: RecordRows;
}

/** The options narrowed to the parts a task's model has (none: the whole term is dropped); `dropped` names the options left out of a kept term ("modules.text"). */
export interface Narrowed<O> {
  options?: O;
  dropped: string[];
}

export interface DistillTerm<O extends TermOptions> {
  name: string;
  schema: z.ZodType<O>;
  needs(options: O): TermNeeds;
  /** Throws, naming the option and both sizes, when this pair cannot be compared as the options ask. */
  check(student: BlipConfig, teacher: BlipConfig, options: O): void;
  /** The options restricted to record parts `has` (a task model's); no options when nothing is left. */
  narrow(options: O, has: (part: RecordPart) => boolean): Narrowed<O>;
  /** Width adaptors the term trains, by module. */
  adaptors?(student: BlipConfig, teacher: BlipConfig, options: O): Record<string, LayerAdaptors>;
  /** The teacher's hidden-state and attention layers the loss reads; none when absent. */
  teacherLayers?(student: BlipConfig, teacher: BlipConfig, options: O): TeacherLayers;
  /**
   * The unweighted loss; called inside the gradient tape with the teacher's record made outside it.
   * Rows that ctx.rows gates contribute nothing, and the mean runs over the kept ones.
   */
  loss(student: PretrainRecord, teacher: TeacherRecord, ctx: TermContext<O>): tf.Scalar;
}

/** A record part a term needs, or an error naming it (the forward was made without it). */
export function part<T>(term: string, who: string, name: string, value: T | undefined): T {
  if (value === undefined) throw new Error(`distill term ${term}: the ${who} record lacks its ${name}`);
  return value;
}

/** All of the options when `has(needed)`, else none (the whole term is dropped): for terms that read one part. */
export function narrowWhole<O>(options: O, has: (part: RecordPart) => boolean, needed: RecordPart): Narrowed<O> {
  return { options: has(needed) ? options : undefined, dropped: [] };
}
