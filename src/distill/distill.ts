// `dlip distill`, first version: a frozen teacher trains a student of the same topology on the
// pre-training data, through the student's own task terms plus the KD terms of a recipe. The
// teacher's forward runs outside the gradient tape before each step; width adaptors train beside
// the student as the trainer's extra modules and are never exported.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { tf } from '../engine/backend.js';
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import { DEC_ID, ENC_ID, PAD_ID, defaultTokenizer } from '../data/tokenizer.js';
import type { BlipForPreTraining } from '../models/blip.js';
import { createRng, initParameters } from '../nn/init.js';
import { prepareMomentum, pretrainForward, recordLosses } from '../objectives/pretrain.js';
import type { ItmNegatives, PretrainOptions } from '../objectives/pretrain.js';
import { PretrainConfigSchema, trainOptions } from '../train/pretrain.js';
import { openPretrainData, pretrainBatches, pretrainingModel, pretrainValidation, toPretrainBatch } from '../train/pretrain-data.js';
import type { PretrainData, PretrainItem } from '../train/pretrain-data.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { train, warn } from '../train/trainer.js';
import type { TrainHooks, TrainResult, TrainTask } from '../train/trainer.js';
import { AdaptorSet } from './adaptor.js';
import type { LayerAdaptors } from './adaptor.js';
import { inheritFromTeacher } from './inherit.js';
import { LayerMapSpecSchema } from './layer-map.js';
import { checkRecipe, loadRecipe, recipeNeeds } from './recipe.js';
import type { Recipe } from './recipe.js';
import type { TeacherRecord } from './terms/index.js';
import { defaultTargetsRoot, TeacherTargets, targetSpec, trainingViews } from './targets.js';
import type { TargetsReport } from './targets.js';
import { disposeRecord, studentNegatives, teacherForward } from './teacher.js';

/** Pre-training's options, with a teacher, a student and a recipe in place of the model and weights. */
export const DistillConfigSchema = PretrainConfigSchema.omit({ model: true, weights: true }).extend({
  /** A model folder or hub name (a preset gives a random teacher, for tests only). */
  teacher: z.string(),
  /** A preset, a config JSON (random init) or a model folder to start from. */
  student: z.string().default('tiny-student'),
  /** A shipped recipe's name or a recipe file. */
  recipe: z.string().default('dlip-default'),
  /** Per tower, which teacher layer each student layer starts from (a student built from a preset or config only). */
  inherit: z.strictObject({ vision: LayerMapSpecSchema.optional(), text: LayerMapSpecSchema.optional() }).optional(),
  /** Where teacher targets are cached (a folder per key under it; default $DLIP_CACHE/teacher), or false to run the teacher live every step. */
  teacherCache: z.union([z.string(), z.literal(false)]).optional(),
  /** LM logits the cache keeps per token (the rest of the vocabulary shares the remaining mass evenly). */
  teacherTopK: z.number().int().positive().default(64),
});
export type DistillConfigInput = z.input<typeof DistillConfigSchema>;
type DistillConfig = z.output<typeof DistillConfigSchema>;

/** The recipe's adaptors, by module, under one module the trainer checkpoints. */
function recipeAdaptors(recipe: Recipe, student: BlipForPreTraining, teacher: BlipForPreTraining | undefined): AdaptorSet {
  const towers: Record<string, LayerAdaptors> = {};
  for (const { term, options } of recipe.terms) {
    for (const [name, tower] of Object.entries(term.adaptors?.(student.config, teacher!.config, options) ?? {})) {
      if (towers[name]) throw new Error(`${recipe.source}: two terms train adaptors for module ${name}`);
      towers[name] = tower;
    }
  }
  return new AdaptorSet(towers);
}

/** What `before` computed off the tape for one batch: the student's ITM pairs and the teacher's record. */
interface Prepared {
  negatives?: ItmNegatives;
  teacher?: TeacherRecord;
}

export interface DistillHooks extends TrainHooks {
  /** The teacher's validation score, measured before distilling (also written to <out>/teacher.json). */
  onTeacherScore?(metrics: Record<string, number>): void;
  /** Building the teacher-target cache: pair-views done of all. */
  onTeacherTargetsProgress?(done: number, total: number): void;
  /** The cache opened (built or reused), and again after training with its measured read cost (also written to <out>/teacher-cache.json). */
  onTeacherTargets?(report: TargetsReport): void;
}

/** The run folder's record of the teacher's validation score. */
export const TEACHER_SCORE_FILE = 'teacher.json';
/** The run folder's report of the teacher-target cache. */
export const TEACHER_CACHE_FILE = 'teacher-cache.json';

/**
 * Scores the teacher on the validation split the student will be selected on, once per run folder:
 * a weak teacher teaches little (or harm), and the user should see that before spending on a run.
 */
async function scoreTeacher(teacher: BlipForPreTraining, student: BlipForPreTraining, data: PretrainData, cfg: DistillConfig, captioningOnly: boolean, hooks: DistillHooks): Promise<void> {
  const validate = pretrainValidation(teacher, data, cfg, captioningOnly);
  const file = join(cfg.out, TEACHER_SCORE_FILE);
  if (!validate || existsSync(file)) return;
  const metrics = await validate();
  await mkdir(cfg.out, { recursive: true });
  await writeJsonAtomic(file, { split: 'val', imageLimit: cfg.evalImages, teacher: cfg.teacher, student: cfg.student, metrics, parameters: { teacher: teacher.parameterCount(), student: student.parameterCount() } });
  hooks.onTeacherScore?.(metrics);
}

export async function distill(input: DistillConfigInput, hooks: DistillHooks = {}): Promise<TrainResult> {
  const parsed = DistillConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid distill options:\n${z.prettifyError(parsed.error)}`);
  const cfg = parsed.data;
  if (cfg.queueSize > 0) throw new Error(`distill: queueSize ${cfg.queueSize}: the ITC momentum queue is not built for distillation; use 0`);
  const recipe = loadRecipe(cfg.recipe);
  const needs = recipeNeeds(recipe);
  const distils = recipe.terms.length > 0;

  const data = await openPretrainData(cfg, hooks);

  const built = await pretrainingModel(cfg.student, cfg.imageSize, cfg.seed, true);
  const student = built.model;
  let teacher: BlipForPreTraining | undefined;
  let adaptors: AdaptorSet | undefined;
  let targets: TeacherTargets | undefined;
  const pool = new DecodePool();
  try {
    // A loaded student's weights are its starting point; inheriting would silently overwrite them.
    if (cfg.inherit && built.loaded) throw new Error(`distill: student "${cfg.student}" is a model folder with its own weights; inherit only initialises a student built from a preset or config`);
    if (distils || cfg.inherit) {
      const t = await pretrainingModel(cfg.teacher, cfg.imageSize, cfg.seed + 1, false);
      teacher = t.model;
      if (!t.loaded) warn(hooks, `teacher "${cfg.teacher}" is a config, not trained weights: it is randomly initialised`);
      const [s, ts] = [student.config.vision_config.image_size, teacher.config.vision_config.image_size];
      if (s !== ts) throw new Error(`distill: the student reads ${s} px images and the teacher ${ts} px; pass imageSize (--image-size) to run both at one size`);
      if (distils) checkRecipe(recipe, student.config, teacher.config);
      if (cfg.inherit) inheritFromTeacher(student, teacher, cfg.inherit);
      if (!distils) {
        // Only needed for the init: without KD terms the teacher is neither run nor scored.
        teacher.dispose();
        teacher = undefined;
      }
    }
    adaptors = recipeAdaptors(recipe, student, teacher);
    initParameters(adaptors, cfg.seed + 2);
    const trainsAdaptors = adaptors.namedParameters().size > 0;

    const tokenizer = defaultTokenizer();
    const objective: PretrainOptions = {
      weights: recipe.task,
      alpha: 0,
      encTokenId: ENC_ID,
      decTokenId: DEC_ID,
      padTokenId: PAD_ID,
      labelSmoothing: cfg.labelSmoothing,
      promptLength: cfg.prompt ? tokenizer.encodeOne(cfg.prompt).length - 2 : 0,
    };
    // The teacher scores the student's ITM pairs, so they are drawn before the student's taped forward,
    // by an extra no-gradient pass through its image and text encoders. The teacher's forward cannot
    // instead run after the student's inside the tape (tfjs has no no-grad scope there: it would keep
    // the teacher's activations until the backward). When no term needs the teacher's ITM parts, the
    // student's forward draws the same pairs itself from the same seed (the forward is deterministic).
    const drawsPairs = needs.terms.includes('itm');
    const captioningOnly = recipe.task.itc === 0 && recipe.task.itm === 0;
    const kdAdaptors = adaptors;

    const task: TrainTask<Batch<PretrainItem>> = {
      model: student,
      extraModules: trainsAdaptors ? { adaptors } : undefined,
      batchesPerEpoch: data.batchesPerEpoch,
      batches: pretrainBatches(data, cfg, student.config.vision_config.image_size, tokenizer, pool),
      batchSize: (b) => b.items.length,
      before: (b, ctx): Prepared => {
        const batch = toPretrainBatch(b);
        prepareMomentum(student, batch, objective); // no momentum: only clamps the temperature
        const negatives = drawsPairs ? studentNegatives(student, batch, createRng(ctx.stepSeed)) : undefined;
        const kept = teacher && (targets ? targets.record(b, negatives) : teacherForward(teacher, batch, objective, needs, negatives));
        return { negatives, teacher: kept };
      },
      loss: (b, ctx, prepared) => {
        const { negatives, teacher: teacherRecord } = prepared as Prepared;
        const batch = toPretrainBatch(b);
        const record = pretrainForward(student, batch, objective, undefined, negatives ? { negatives } : createRng(ctx.stepSeed), needs);
        const own = recordLosses(student, record, objective);
        const terms: Record<string, tf.Scalar> = { ...own.terms };
        const weighted: tf.Tensor[] = [own.total];
        for (const { term, options } of recipe.terms) {
          // KD terms are logged as kd_<term>, apart from the task terms of the same name (itm, lm).
          const value = term.loss(record, teacherRecord!, { options, adaptors: kdAdaptors, student, teacher: teacher!, batch });
          terms[`kd_${term.name}`] = value;
          weighted.push(tf.mul(value, options.weight));
        }
        return { total: tf.addN(weighted) as tf.Scalar, terms };
      },
      after: (_b, _ctx, prepared) => {
        const kept = (prepared as Prepared).teacher;
        if (kept) disposeRecord(kept);
      },
      release: (b) => disposeBatch(b),
      evaluate: pretrainValidation(student, data, cfg, captioningOnly),
      selectMetric: captioningOnly ? 'cider' : 'r_mean',
      takeSkipped: () => data.skipped.take(),
    };
    if (teacher) await scoreTeacher(teacher, student, data, cfg, captioningOnly, hooks);
    if (teacher && cfg.teacherCache !== false) {
      const spec = targetSpec(recipe, student.config, teacher.config, trainingViews(data, cfg), cfg.teacherTopK);
      const root = cfg.teacherCache ?? defaultTargetsRoot();
      targets = await TeacherTargets.open({ teacher, spec, data, cfg, objective, tokenizer, pool, root, onProgress: hooks.onTeacherTargetsProgress }, needs, data.batchesPerEpoch * cfg.batchSize);
      hooks.onTeacherTargets?.(targets.report);
    }
    const result = await train(task, trainOptions({ ...cfg, model: cfg.student, weights: recipe.task }), hooks);
    if (targets) {
      const report = targets.measured(data.batchesPerEpoch);
      await writeJsonAtomic(join(cfg.out, TEACHER_CACHE_FILE), report);
      hooks.onTeacherTargets?.(report);
    }
    return result;
  } finally {
    targets?.close();
    await pool.close();
    adaptors?.dispose();
    teacher?.dispose();
    student.dispose();
  }
}
