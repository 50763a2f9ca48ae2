// Task-adaptive distillation (issue 10 §1): what each --task trains and exports, which parts of a
// recipe its model can use, and which model folders fit it as teacher or student.
import { readModelConfig, readManifest, resolveModelPath } from '../io/checkpoint.js';
import { configArchitecture } from '../models/config.js';
import type { Architecture } from '../models/config.js';
import { resolveConfig } from '../models/resolve.js';
import { PRETRAIN_TERMS } from '../objectives/pretrain.js';
import type { PretrainTerm } from '../objectives/pretrain.js';
import type { Recipe, RecipeTerm } from './recipe.js';
import type { RecordPart } from './terms/index.js';

/** pretrain: stage distillation on the composite; the others: a task model from a task's teacher. */
export const DISTILL_TASKS = ['pretrain', 'retrieval', 'caption', 'vqa'] as const;
export type DistillTask = (typeof DISTILL_TASKS)[number];

/** The model a run trains (pretrain) or exports to <out>/model (the tasks), as `dlip finetune` does. */
export const TASK_ARCHITECTURE: Record<DistillTask, Architecture> = {
  pretrain: 'BlipForPreTraining',
  retrieval: 'BlipForImageTextRetrieval',
  caption: 'BlipForConditionalGeneration',
  vqa: 'BlipForQuestionAnswering',
};

/** The record parts each task's model produces (VQA: question encoder as `fused`, answer decoder as `decoder`/`lm`). */
const TASK_PARTS: Record<DistillTask, readonly RecordPart[]> = {
  pretrain: ['image', 'text', 'fused', 'decoder', 'features', 'similarity', 'itmLogits', 'lm'],
  retrieval: ['image', 'text', 'fused', 'features', 'similarity', 'itmLogits'],
  caption: ['image', 'decoder', 'lm'],
  vqa: ['image', 'fused', 'decoder', 'lm'],
};

/** The recipe's task terms each task keeps; VQA's answer loss is its decoder's LM loss, weighted by `lm`. */
const TASK_TERMS: Record<DistillTask, readonly PretrainTerm[]> = {
  pretrain: PRETRAIN_TERMS,
  retrieval: ['itc', 'itm'],
  caption: ['lm'],
  vqa: ['lm'],
};

/**
 * The recipe restricted to what `task`'s model has: task weights of other terms set to 0, and KD terms
 * (or a term's features and modules) that read parts the model lacks dropped, each one named through
 * `onDrop`, so that one recipe (dlip-default) serves every task. Throws, naming the recipe, when the
 * recipe asked for KD and none of it applies, or when nothing is left to train.
 */
export function recipeForTask(recipe: Recipe, task: DistillTask, onDrop: (message: string) => void): Recipe {
  const has = (part: RecordPart) => TASK_PARTS[task].includes(part);
  const dropped: string[] = [];
  const terms: RecipeTerm[] = [];
  for (const { term, options } of recipe.terms) {
    const narrowed = term.narrow(options, has);
    if (!narrowed.options) dropped.push(`terms.${term.name}`);
    else {
      dropped.push(...narrowed.dropped.map((d) => `terms.${term.name}.${d}`));
      terms.push({ term, options: narrowed.options });
    }
  }
  const weights = Object.fromEntries(PRETRAIN_TERMS.map((t) => [t, TASK_TERMS[task].includes(t) ? recipe.task[t] : 0])) as Record<PretrainTerm, number>;
  if (recipe.terms.length > 0 && terms.length === 0) {
    throw new Error(`${recipe.source}: none of its KD terms applies to --task ${task} (a ${TASK_ARCHITECTURE[task]} lacks what ${dropped.join(', ')} compare); use a recipe for this task's modules`);
  }
  if (PRETRAIN_TERMS.every((t) => weights[t] === 0) && terms.every((t) => t.options.weight === 0)) {
    throw new Error(`${recipe.source}: for --task ${task} every weight is 0 (task terms ${TASK_TERMS[task].join(', ')} and the KD terms); the student would learn nothing`);
  }
  if (dropped.length > 0) onDrop(`${recipe.source}: a ${TASK_ARCHITECTURE[task]} has no parts for ${dropped.join(', ')}; --task ${task} distils without them`);
  return { ...recipe, task: weights, terms };
}

/** Folders each task starts a teacher or student from: its own task model or a pre-training checkpoint. */
const ACCEPTED: Record<DistillTask, readonly Architecture[]> = {
  pretrain: ['BlipForPreTraining'],
  retrieval: ['BlipForImageTextRetrieval', 'BlipForPreTraining'],
  caption: ['BlipForConditionalGeneration', 'BlipForPreTraining'],
  vqa: ['BlipForQuestionAnswering', 'BlipForPreTraining'],
};

/**
 * The architecture of the model folder `spec` names (a hub name is fetched), or undefined for a preset
 * or config file (random init: any task). Throws, naming `role` and the folder, when `task` cannot
 * start from it, e.g. a captioner as a retrieval teacher (it has no text encoder nor ITM head).
 */
export async function taskFolderArchitecture(spec: string, task: DistillTask, role: 'teacher' | 'student'): Promise<Architecture | undefined> {
  const path = await resolveModelPath(spec, { presets: true });
  if (resolveConfig(path).kind !== 'folder') return undefined;
  const architecture = (await readManifest(path))?.architecture ?? configArchitecture(await readModelConfig(path));
  if (!architecture || !ACCEPTED[task].includes(architecture)) {
    throw new Error(`distill --task ${task}: the ${role} ${spec} is a ${architecture ?? 'model of unknown architecture'}; a ${task} ${role} is a folder of a ${ACCEPTED[task].join(' or a ')}`);
  }
  return architecture;
}
