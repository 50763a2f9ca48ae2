// The registry of distillation terms: a recipe names terms from here. Adding a term is one file and
// one line below.
import { attention } from './attention.js';
import { contrastive } from './contrastive.js';
import { feature } from './feature.js';
import { hidden } from './hidden.js';
import { itm } from './itm.js';
import { lm } from './lm.js';
import type { DistillTerm, TermOptions } from './types.js';

export const TERMS: Readonly<Record<string, DistillTerm<TermOptions>>> = {
  contrastive,
  itm,
  lm,
  feature,
  hidden,
  attention,
};

export type { DistilledModel, DistillTerm, Narrowed, RecordPart, RecordRows, TeacherLayers, TeacherRecord, TermContext, TermNeeds, TermOptions } from './types.js';
