// `dlip distill`: a frozen teacher trains a student of the same topology through the student's own task
// terms plus the KD terms of a recipe. --task pretrain distils on the pre-training composite (stage
// distillation); retrieval and caption run the composite with that task's terms and export the task
// model, as `dlip finetune` does; vqa runs in vqa.ts. The teacher's forward runs outside the gradient
// tape before each step; width adaptors train beside the student as the trainer's extra modules and
// are never exported.
import { z } from 'zod';
import { tf } from '../engine/backend.js';
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import { DEC_ID, ENC_ID, PAD_ID, defaultTokenizer } from '../data/tokenizer.js';
import type { BlipForPreTraining } from '../models/blip.js';
import { shippedModelDir } from '../models/shipped.js';
import { createRng, initParameters } from '../nn/init.js';
import { exportTaskModel } from '../train/finetune.js';
import { prepareMomentum, pretrainForward, recordLosses } from '../objectives/pretrain.js';
import type { ItmNegatives, PretrainOptions } from '../objectives/pretrain.js';
import { PretrainConfigSchema, trainOptions } from '../train/pretrain.js';
import { openPretrainData, pretrainBatches, pretrainingModel, pretrainValidation, toPretrainBatch } from '../train/pretrain-data.js';
import type { PretrainData, PretrainItem } from '../train/pretrain-data.js';
export { TEACHER_SCORE_FILE } from './teacher-score.js';
export type { DistillHooks } from './teacher-score.js';
import { train, warn } from '../train/trainer.js';
import type { TrainResult, TrainTask } from '../train/trainer.js';
import type { AdaptorSet } from './adaptor.js';
import { itmGate } from './gate.js';
import type { Gate } from './gate.js';
import { LayerMapSpecSchema } from './layer-map.js';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadRecipe, recipeAdaptors, recipeNeeds } from './recipe.js';
import { pretrainRows } from './rows.js';
import { DISTILL_TASKS, recipeForTask, TASK_ARCHITECTURE, taskFolderArchitecture } from './tasks.js';
import type { TeacherRecord } from './terms/index.js';
import { defaultTargetsRoot, TeacherTargets, targetSpec, trainingViews } from './targets.js';
import { disposeRecord, pairTeacher, studentNegatives, teacherForward } from './teacher.js';
import { recordTeacherScore } from './teacher-score.js';
import type { DistillHooks } from './teacher-score.js';
import { distillVqa } from './vqa.js';

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
  /** Stage distillation (pretrain) or task-adaptive distillation into a task model exported to <out>/model. */
  task: z.enum(DISTILL_TASKS).default('pretrain'),
  /** Per-sample gating: a sample the teacher gets wrong teaches only through the task loss (not for caption). */
  gate: z.boolean().default(false),
});
export type DistillConfigInput = z.input<typeof DistillConfigSchema>;
export type DistillConfig = z.output<typeof DistillConfigSchema>;

/**
 * Whether to build or read the teacher-target cache. Asked for by name (--teacher-cache), always; by
 * default, only when the run reads every training pair at least once: the cache holds every pair in
 * both views, so a run that sees a fraction of a large dataset would pay the teacher on pairs it never
 * reads (the large world's 200,000 pairs against a few hundred steps).
 */
export function useTeacherCache(cfg: DistillConfig, pairs: number, batchesPerEpoch: number, hooks: DistillHooks): boolean {
  if (cfg.teacherCache !== undefined) return cfg.teacherCache !== false;
  const batches = cfg.steps ?? cfg.epochs * batchesPerEpoch;
  if (batches >= batchesPerEpoch) return true;
  warn(hooks, `the teacher runs live: this run reads ${batches * cfg.batchSize} of the ${pairs} training pairs, fewer than the teacher-target cache would hold (--teacher-cache <dir> builds it anyway)`);
  return false;
}

/** A run's result; task runs also name their exported task model. */
export type DistillResult = TrainResult & { modelDir?: string };

/** What `before` computed off the tape for one batch: the student's ITM pairs, the teacher's record and its gate. */
interface Prepared {
  negatives?: ItmNegatives;
  teacher?: TeacherRecord;
  gate?: Gate;
}

/** The run folder's report of the teacher-target cache. */
export const TEACHER_CACHE_FILE = 'teacher-cache.json';

/**
 * Scores the teacher on the validation split the student will be selected on, once per run folder:
 * a weak teacher teaches little (or harm), and the user should see that before spending on a run.
 */
async function scoreTeacher(teacher: BlipForPreTraining, student: BlipForPreTraining, data: PretrainData, cfg: DistillConfig, captioningOnly: boolean, hooks: DistillHooks): Promise<void> {
  const validate = pretrainValidation(teacher, data, cfg, captioningOnly);
  await recordTeacherScore(validate, cfg, { teacher: teacher.parameterCount(), student: student.parameterCount() }, hooks);
}

export async function distill(input: DistillConfigInput, hooks: DistillHooks = {}): Promise<DistillResult> {
  const parsed = DistillConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid distill options:\n${z.prettifyError(parsed.error)}`);
  // BLIP's captioner predicts after a fixed prompt; finetune's default, so both export alike.
  // A shipped model's name means its trained weights (a teacher is never meant to start random).
  const named = { ...parsed.data, teacher: shippedModelDir(parsed.data.teacher) ?? parsed.data.teacher };
  const cfg = named.task === 'caption' ? { ...named, prompt: named.prompt ?? 'a picture of ' } : named;
  if (cfg.queueSize > 0) throw new Error(`distill: queueSize ${cfg.queueSize}: the ITC momentum queue is not built for distillation; use 0`);
  if (cfg.gate && cfg.task === 'caption') {
    throw new Error('distill --gate: --task caption has no per-sample verdict of the teacher (no ITM head, and a caption has no single right answer); gate with pretrain, retrieval or vqa');
  }
  const recipe = recipeForTask(loadRecipe(cfg.recipe), cfg.task, (message) => warn(hooks, message));
  const distils = recipe.terms.length > 0;
  if (cfg.gate && !distils) throw new Error(`distill --gate: ${recipe.source} has no KD terms, and gating only withholds KD`);
  if (cfg.task === 'vqa') return distillVqa(cfg, recipe, hooks);
  const needs = recipeNeeds(recipe);
  // A task model folder as teacher or student fills the composite partly: only its task's parts are read.
  const teacherArchitecture = await taskFolderArchitecture(cfg.teacher, cfg.task, 'teacher');
  if (cfg.task !== 'pretrain') await taskFolderArchitecture(cfg.student, cfg.task, 'student');

  const data = await openPretrainData(cfg, hooks);

  const built = await pretrainingModel(cfg.student, cfg.imageSize, cfg.seed, true);
  const student = built.model;
  let teacher: BlipForPreTraining | undefined;
  let adaptors: AdaptorSet | undefined;
  let targets: TeacherTargets | undefined;
  const pool = new DecodePool();
  try {
    teacher = await pairTeacher(built, cfg, recipe, () => pretrainingModel(cfg.teacher, cfg.imageSize, cfg.seed + 1, teacherArchitecture !== undefined && teacherArchitecture !== 'BlipForPreTraining'), hooks);
    adaptors = recipeAdaptors(recipe, student.config, teacher?.config);
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
    const captioningOnly = cfg.task === 'caption' || (recipe.task.itc === 0 && recipe.task.itm === 0);
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
        const gate = cfg.gate && kept ? itmGate(teacher!, batch, kept, ENC_ID) : undefined;
        return { negatives, teacher: kept, gate };
      },
      loss: (b, ctx, prepared) => {
        const { negatives, teacher: teacherRecord, gate } = prepared as Prepared;
        const batch = toPretrainBatch(b);
        const record = pretrainForward(student, batch, objective, undefined, negatives ? { negatives } : createRng(ctx.stepSeed), needs);
        const own = recordLosses(student, record, objective);
        const terms: Record<string, tf.Scalar> = { ...own.terms };
        // Logged beside the terms: the count of samples gated in this batch.
        if (gate) terms.gated = tf.scalar(gate.gated);
        const weighted: tf.Tensor[] = [own.total];
        const rows = pretrainRows(batch, record, gate?.keep);
        for (const { term, options } of recipe.terms) {
          // KD terms are logged as kd_<term>, apart from the task terms of the same name (itm, lm).
          const value = term.loss(record, teacherRecord!, { options, adaptors: kdAdaptors, student, teacher: teacher!, rows });
          terms[`kd_${term.name}`] = value;
          weighted.push(tf.mul(value, options.weight));
        }
        return { total: tf.addN(weighted) as tf.Scalar, terms };
      },
      after: (_b, _ctx, prepared) => {
        const { teacher: kept, gate } = prepared as Prepared;
        if (kept) disposeRecord(kept);
        gate?.keep.dispose();
      },
      release: (b) => disposeBatch(b),
      evaluate: pretrainValidation(student, data, cfg, captioningOnly),
      selectMetric: captioningOnly ? 'cider' : 'r_mean',
      takeSkipped: () => data.skipped.take(),
    };
    if (teacher) await scoreTeacher(teacher, student, data, cfg, captioningOnly, hooks);
    if (teacher && useTeacherCache(cfg, data.items.length, data.batchesPerEpoch, hooks)) {
      const spec = targetSpec(recipe, student.config, teacher.config, trainingViews(data, cfg), cfg.teacherTopK);
      const root = typeof cfg.teacherCache === 'string' ? cfg.teacherCache : defaultTargetsRoot();
      targets = await TeacherTargets.open({ teacher, spec, data, cfg, objective, tokenizer, pool, root, onProgress: hooks.onTeacherTargetsProgress }, needs, data.batchesPerEpoch * cfg.batchSize);
      hooks.onTeacherTargets?.(targets.report);
    }
    const result = await train(task, trainOptions({ ...cfg, model: cfg.student, weights: recipe.task }), hooks);
    if (targets) {
      const report = targets.measured(data.batchesPerEpoch);
      await writeJsonAtomic(join(cfg.out, TEACHER_CACHE_FILE), report);
      hooks.onTeacherTargets?.(report);
    }
    return cfg.task === 'pretrain' ? result : { ...result, modelDir: await exportTaskModel(result, TASK_ARCHITECTURE[cfg.task], cfg.out) };
  } finally {
    targets?.close();
    await pool.close();
    adaptors?.dispose();
    teacher?.dispose();
    student.dispose();
  }
}
