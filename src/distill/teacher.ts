// The frozen teacher's side of a distillation step, run outside the gradient tape: its forward record
// on the student's ITM pairs, and those pairs, drawn from the student's own similarities as BLIP does.
import { tf } from '../engine/backend.js';
import { l2Normalize } from '../models/blip.js';
import type { BlipForPreTraining, BlipModel } from '../models/blip.js';
import type { Uniform } from '../objectives/itm.js';
import { drawNegatives, pretrainForward } from '../objectives/pretrain.js';
import type { ItmNegatives, PretrainBatch, PretrainOptions, PretrainRecord } from '../objectives/pretrain.js';
import { warn } from '../train/trainer.js';
import type { TrainHooks } from '../train/trainer.js';
import { inheritFromTeacher } from './inherit.js';
import type { InheritSpec } from './inherit.js';
import { checkRecipe } from './recipe.js';
import type { Recipe } from './recipe.js';
import type { TermNeeds } from './terms/index.js';

/**
 * The student's hard negatives for this batch (no gradients): in-batch cosines of its ITC features
 * at its temperature, imageForText drawn first, as pretrainForward draws them.
 */
export function studentNegatives(student: BlipForPreTraining, batch: PretrainBatch, random: Uniform): ItmNegatives {
  let negatives: ItmNegatives | undefined;
  tf.tidy(() => {
    const image = l2Normalize(student.imageProjection(student.encodeImage(batch.pixels).lastHiddenState));
    const text = l2Normalize(student.textProjection(student.encodeText(batch.inputIds, batch.attentionMask).lastHiddenState));
    negatives = drawNegatives(student, { image, text }, batch.imageIds, random);
  });
  return negatives!;
}

/**
 * The teacher's record of what the terms need, kept (every tensor in it) until disposeRecord; call
 * outside the gradient tape. ITM parts are computed on `negatives`, the student's pairs.
 */
export function teacherForward(teacher: BlipForPreTraining, batch: PretrainBatch, options: PretrainOptions, needs: TermNeeds, negatives?: ItmNegatives): PretrainRecord {
  if (needs.terms.includes('itm') && !negatives) throw new Error("distill: the teacher's ITM parts need the student's negatives");
  const source = negatives ? { negatives } : () => { throw new Error('distill: the teacher draws no ITM negatives of its own'); };
  const teacherOptions = { ...options, weights: { itc: 0, itm: 0, lm: 0 }, momentum: undefined };
  // pretrainForward's record is a plain object of tensors: tidy keeps every one of them.
  return tf.tidy(() => pretrainForward(teacher, batch, teacherOptions, undefined, source, needs) as unknown as tf.TensorContainer) as unknown as PretrainRecord;
}

export function disposeRecord(record: PretrainRecord): void {
  tf.dispose(record as unknown as tf.TensorContainer);
}

/**
 * The teacher of a run, loaded when the recipe distils or the student inherits from it, checked against
 * the student (image size, recipe) and, for `inherit`, copied into it; returned only when KD terms run
 * (an inherit-only teacher is disposed here). Shared by stage, task and VQA distillation.
 */
export async function pairTeacher<M extends BlipModel>(
  student: { model: M; loaded: boolean },
  cfg: { teacher: string; student: string; inherit?: InheritSpec },
  recipe: Recipe,
  load: () => Promise<{ model: M; loaded: boolean }>,
  hooks: TrainHooks,
): Promise<M | undefined> {
  // A loaded student's weights are its starting point; inheriting would silently overwrite them.
  if (cfg.inherit && student.loaded) throw new Error(`distill: student "${cfg.student}" is a model folder with its own weights; inherit only initialises a student built from a preset or config`);
  const distils = recipe.terms.length > 0;
  if (!distils && !cfg.inherit) return undefined;
  const { model: teacher, loaded } = await load();
  try {
    if (!loaded) warn(hooks, `teacher "${cfg.teacher}" is a config, not trained weights: it is randomly initialised`);
    const [s, t] = [student.model.config.vision_config.image_size, teacher.config.vision_config.image_size];
    if (s !== t) throw new Error(`distill: the student reads ${s} px images and the teacher ${t} px; pass imageSize (--image-size) to run both at one size`);
    if (distils) checkRecipe(recipe, student.model.config, teacher.config);
    if (cfg.inherit) inheritFromTeacher(student.model, teacher, cfg.inherit);
  } catch (err) {
    teacher.dispose();
    throw err;
  }
  if (distils) return teacher;
  // Only needed for the init: without KD terms the teacher is neither run nor scored.
  teacher.dispose();
  return undefined;
}
