// `dlip distill`, first version: a frozen teacher trains a student of the same topology on the
// pre-training data, through the student's own task terms plus the KD terms of a recipe. The
// teacher's forward runs outside the gradient tape before each step; width adaptors train beside
// the student as the trainer's extra modules and are never exported.
import { z } from 'zod';
import { tf } from '../engine/backend.js';
import { openDataset } from '../data/manifest.js';
import { SkipCounter } from '../data/errors.js';
import { builtinWorld } from '../data/world/synth.js';
import { captionPairs } from '../data/pipeline/samples.js';
import type { CaptionPair } from '../data/pipeline/samples.js';
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch, loadBatches } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import { DEC_ID, ENC_ID, PAD_ID, defaultTokenizer } from '../data/tokenizer.js';
import { evaluateLoaded } from '../eval/run.js';
import { loadModel, resolveModelPath } from '../io/checkpoint.js';
import { createModel } from '../models/blip.js';
import type { BlipForPreTraining } from '../models/blip.js';
import { withImageSize } from '../models/image-size.js';
import { resolveConfig } from '../models/resolve.js';
import { createRng, initParameters } from '../nn/init.js';
import { prepareMomentum, pretrainForward, recordLosses } from '../objectives/pretrain.js';
import type { ItmNegatives, PretrainOptions, PretrainRecord } from '../objectives/pretrain.js';
import { PretrainConfigSchema, trainOptions } from '../train/pretrain.js';
import { train, warn } from '../train/trainer.js';
import type { TrainHooks, TrainResult, TrainTask } from '../train/trainer.js';
import { AdaptorSet } from './adaptor.js';
import type { LayerAdaptors } from './adaptor.js';
import { checkRecipe, loadRecipe, recipeNeeds } from './recipe.js';
import type { Recipe } from './recipe.js';
import { disposeRecord, studentNegatives, teacherForward } from './teacher.js';

/** Pre-training's options, with a teacher, a student and a recipe in place of the model and weights. */
export const DistillConfigSchema = PretrainConfigSchema.omit({ model: true, weights: true }).extend({
  /** A model folder or hub name (a preset gives a random teacher, for tests only). */
  teacher: z.string(),
  /** A preset, a config JSON (random init) or a model folder to start from. */
  student: z.string().default('tiny-student'),
  /** A shipped recipe's name or a recipe file. */
  recipe: z.string().default('dlip-default'),
});
export type DistillConfigInput = z.input<typeof DistillConfigSchema>;

/** A model as BlipForPreTraining: a folder's weights (all of them unless `partial`), or a config's seeded init. */
async function pretrainingModel(spec: string, imageSize: number | undefined, seed: number, partial: boolean): Promise<{ model: BlipForPreTraining; loaded: boolean }> {
  const path = await resolveModelPath(spec, { presets: true });
  const resolved = resolveConfig(path);
  const model =
    resolved.kind === 'folder'
      ? ((await loadModel(path, { architecture: 'BlipForPreTraining', partial, imageSize })).model as BlipForPreTraining)
      : (createModel(withImageSize(resolved.config, imageSize, spec), 'BlipForPreTraining') as BlipForPreTraining);
  initParameters(model, seed); // fills whatever no checkpoint provided
  return { model, loaded: resolved.kind === 'folder' };
}

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

interface DistillItem {
  pair: CaptionPair;
  imageIndex: number;
}

/** What `before` computed off the tape for one batch: the student's ITM pairs and the teacher's record. */
interface Prepared {
  negatives?: ItmNegatives;
  teacher?: PretrainRecord;
}

export async function distill(input: DistillConfigInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const parsed = DistillConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid distill options:\n${z.prettifyError(parsed.error)}`);
  const cfg = parsed.data;
  if (cfg.queueSize > 0) throw new Error(`distill: queueSize ${cfg.queueSize}: the ITC momentum queue is not built for distillation; use 0`);
  const recipe = loadRecipe(cfg.recipe);
  const needs = recipeNeeds(recipe);
  const distils = recipe.terms.length > 0;

  // The data, as pre-training reads it.
  const builtin = cfg.data === undefined;
  const dataset = openDataset(cfg.data ?? (await builtinWorld(cfg.world, 0)));
  const skipped = new SkipCounter();
  const pairs = captionPairs(dataset.captions('train', { onBadSample: cfg.onBadSample, onSkip: (p) => skipped.add(p.length) }), cfg.maxWords);
  const imageIndex = new Map<string, number>();
  const items: DistillItem[] = pairs.map((pair) => {
    if (!imageIndex.has(pair.imageId)) imageIndex.set(pair.imageId, imageIndex.size);
    return { pair, imageIndex: imageIndex.get(pair.imageId)! };
  });
  const batchesPerEpoch = Math.floor(items.length / cfg.batchSize);
  if (batchesPerEpoch === 0) throw new Error(`${dataset.file}: ${items.length} training pairs are fewer than one batch of ${cfg.batchSize}`);
  const validates = dataset.manifest.splits.val?.captions !== undefined;
  if (!validates) warn(hooks, `${dataset.file} has no "val" split with captions: the run is not validated and keeps no best/ model`);

  const student = (await pretrainingModel(cfg.student, cfg.imageSize, cfg.seed, true)).model;
  let teacher: BlipForPreTraining | undefined;
  let adaptors: AdaptorSet | undefined;
  const pool = new DecodePool();
  try {
    if (distils) {
      const t = await pretrainingModel(cfg.teacher, cfg.imageSize, cfg.seed + 1, false);
      teacher = t.model;
      if (!t.loaded) warn(hooks, `teacher "${cfg.teacher}" is a config, not trained weights: it is randomly initialised`);
      const [s, ts] = [student.config.vision_config.image_size, teacher.config.vision_config.image_size];
      if (s !== ts) throw new Error(`distill: the student reads ${s} px images and the teacher ${ts} px; pass imageSize (--image-size) to run both at one size`);
      checkRecipe(recipe, student.config, teacher.config);
    }
    adaptors = recipeAdaptors(recipe, student, teacher);
    initParameters(adaptors, cfg.seed + 2);
    const trainsAdaptors = adaptors.namedParameters().size > 0;

    const tokenizer = defaultTokenizer();
    const flip = cfg.flip ?? (builtin ? 0.5 : 0);
    const objective: PretrainOptions = {
      weights: recipe.task,
      alpha: 0,
      encTokenId: ENC_ID,
      decTokenId: DEC_ID,
      padTokenId: PAD_ID,
      labelSmoothing: cfg.labelSmoothing,
      promptLength: cfg.prompt ? tokenizer.encodeOne(cfg.prompt).length - 2 : 0,
    };
    // The student draws ITM pairs when it trains ITM or the teacher must score them.
    const drawsPairs = recipe.task.itm > 0 || needs.terms.includes('itm');
    const captioningOnly = recipe.task.itc === 0 && recipe.task.itm === 0;
    const toBatch = (b: Batch<DistillItem>) => ({ pixels: b.pixels, inputIds: b.inputIds!, attentionMask: b.attentionMask!, imageIds: b.items.map((i) => i.imageIndex) });
    const kdAdaptors = adaptors;

    const task: TrainTask<Batch<DistillItem>> = {
      model: student,
      extraModules: trainsAdaptors ? { adaptors } : undefined,
      batchesPerEpoch,
      batches: (epoch, skip) =>
        loadBatches(
          items,
          {
            batchSize: cfg.batchSize,
            imageSize: student.config.vision_config.image_size,
            image: (i) => i.pair.image,
            describe: (i) => i.pair.source,
            text: (i) => (cfg.prompt ?? '') + i.pair.caption,
            tokenizer,
            maxLength: cfg.maxTokens,
            firstToken: 'cls',
            shuffle: true,
            seed: cfg.seed,
            dropLast: true,
            skipBatches: skip,
            augment: { flipProbability: flip, flipSwapsLeftRight: builtin },
            pool,
            onBadSample: cfg.onBadSample,
            onSkip: skipped.add,
          },
          epoch,
        ),
      batchSize: (b) => b.items.length,
      before: (b, ctx): Prepared => {
        const batch = toBatch(b);
        prepareMomentum(student, batch, objective); // no momentum: only clamps the temperature
        const negatives = drawsPairs ? studentNegatives(student, batch, createRng(ctx.stepSeed)) : undefined;
        const kept = teacher && teacherForward(teacher, batch, objective, needs, needs.terms.includes('itm') ? negatives : undefined);
        return { negatives, teacher: kept };
      },
      loss: (b, ctx, prepared) => {
        const { negatives, teacher: teacherRecord } = prepared as Prepared;
        const batch = toBatch(b);
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
      // Validated as pre-training: retrieval when ITC or ITM trains, else captioning.
      evaluate: !validates
        ? undefined
        : async (): Promise<Record<string, number>> => {
            if (captioningOnly) {
              const report = await evaluateLoaded(student, 'training', dataset, { split: 'val', tasks: ['caption'], limit: cfg.evalImages, numBeams: 1, prompt: cfg.prompt ?? '', onBadSample: cfg.onBadSample });
              return { bleu4: report.caption!.bleu4, cider: report.caption!.cider };
            }
            const report = await evaluateLoaded(student, 'training', dataset, { split: 'val', tasks: ['retrieval'], limit: cfg.evalImages, k: 16, onBadSample: cfg.onBadSample });
            const r = report.retrieval!;
            return { tr1: r.recall[1]!, ir1: r.imageRecall[1]!, r_mean: r.mean };
          },
      selectMetric: captioningOnly ? 'cider' : 'r_mean',
      takeSkipped: () => skipped.take(),
    };
    return await train(task, trainOptions({ ...cfg, model: cfg.student, weights: recipe.task }), hooks);
  } finally {
    await pool.close();
    adaptors?.dispose();
    teacher?.dispose();
    student.dispose();
  }
}
