// The loss primitives of DLIP distillation (Kuang et al. 2023): soft logits, LM tokens, ITC features,
// hidden states through learned adaptors, and attention maps of mapped layers.
export { klFromLogProbs, softKl } from './kl.js';
export { projectedLmKd } from './lm-kd.js';
export type { LmTeacher, ProjectedStates, TopKTeacher } from './lm-kd.js';
export { featureKd } from './feature-kd.js';
export type { FeatureKdKind } from './feature-kd.js';
export { layerMap, LayerMapSpecSchema } from './layer-map.js';
export type { LayerMapSpec, LayerPair } from './layer-map.js';
export { AdaptorSet, LayerAdaptors } from './adaptor.js';
export { hiddenKd } from './hidden-kd.js';
export { attentionKd } from './attention-kd.js';
export { TERMS } from './terms/index.js';
export type { DistilledModel, DistillTerm, Narrowed, RecordPart, RecordRows, TermContext, TermNeeds, TermOptions } from './terms/index.js';
export { checkRecipe, listRecipes, loadRecipe, parseRecipe, recipeAdaptors, recipeNeeds } from './recipe.js';
export { DISTILL_TASKS, recipeForTask, TASK_ARCHITECTURE } from './tasks.js';
export type { DistillTask } from './tasks.js';
export { itmGate, vqaGate } from './gate.js';
export type { Gate } from './gate.js';
export type { Recipe, RecipeTerm } from './recipe.js';
export { inheritFromTeacher } from './inherit.js';
export type { InheritSpec, InheritSummary, Tower } from './inherit.js';
export { distill, DistillConfigSchema } from './distill.js';
export type { DistillConfigInput, DistillResult } from './distill.js';
