// `dlip pretrain`: BLIP's pre-training (ITC + ITM + LM) of a model on image-caption pairs, the
// built-in world by default. Wires data → BlipForPreTraining → objectives → trainer.

import { z } from 'zod';
import { ON_BAD_SAMPLE } from '../data/errors.js';
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import { DEC_ID, ENC_ID, PAD_ID, defaultTokenizer } from '../data/tokenizer.js';
import { createRng } from '../nn/init.js';
import { MomentumContrast } from '../objectives/momentum.js';
import { finishMomentum, prepareMomentum, pretrainLosses } from '../objectives/pretrain.js';
import type { MomentumFeatures, PretrainOptions } from '../objectives/pretrain.js';
import { alphaAt } from './schedule.js';
import { openPretrainData, pretrainBatches, pretrainingModel, pretrainValidation, toPretrainBatch } from './pretrain-data.js';
import type { PretrainItem } from './pretrain-data.js';
import { train } from './trainer.js';
import type { TrainHooks, TrainOptions, TrainResult, TrainTask } from './trainer.js';

export const PretrainConfigSchema = z.object({
  /** A preset name, a model folder to start from, or a config JSON. */
  model: z.string().default('tiny-teacher'),
  /** A dataset.json (or its folder); the built-in world when absent. */
  data: z.string().optional(),
  world: z.enum(['tiny', 'small', 'large']).default('small'),
  /** A malformed record or a missing or undecodable image: stop ('fail') or leave it out ('skip', counted in metrics.jsonl). */
  onBadSample: z.enum(ON_BAD_SAMPLE).default('fail'),
  /** Train at this image side instead of the model config's (a multiple of its patch size). */
  imageSize: z.number().int().optional(),
  out: z.string(),
  seed: z.number().int().default(0),
  batchSize: z.number().int().positive().default(32),
  epochs: z.number().int().positive().default(1),
  steps: z.number().int().positive().optional(),
  lr: z.number().positive().default(3e-4),
  minLr: z.number().nonnegative().default(1e-6),
  warmupSteps: z.number().int().nonnegative().default(100),
  weightDecay: z.number().nonnegative().default(0.05),
  clipNorm: z.number().positive().optional(),
  accumulate: z.number().int().positive().default(1),
  maxWords: z.number().int().positive().default(30),
  maxTokens: z.number().int().positive().default(32),
  /** Text put before every caption and not predicted by the LM term (BLIP's captioner: "a picture of "). */
  prompt: z.string().optional(),
  weights: z.object({ itc: z.number().default(1), itm: z.number().default(1), lm: z.number().default(1) }).default({ itc: 1, itm: 1, lm: 1 }),
  /**
   * Momentum distillation and queue (BLIP: 0.995, 57,600); queueSize 0 means plain in-batch InfoNCE,
   * the default: BLIP starts from pre-trained encoders, but from scratch the momentum encoders lag
   * ~1/(1 − m) steps behind and their near-identical early features stall ITC.
   */
  momentum: z.number().min(0).max(1).default(0.995),
  queueSize: z.number().int().nonnegative().default(0),
  alpha: z.number().min(0).max(1).default(0.4),
  labelSmoothing: z.number().min(0).max(1).default(0.1),
  /** Horizontal flips swap left/right in the text: only valid for the built-in world. */
  flip: z.number().min(0).max(1).optional(),
  checkpointEvery: z.number().int().positive().default(200),
  /** Validation retrieval (ITC + ITM rerank) every this many steps; the best mean recall is kept in best/. */
  evalEvery: z.number().int().positive().optional(),
  /** Validation images per evaluation (the val split's first ones). */
  evalImages: z.number().int().positive().default(200),
  logEvery: z.number().int().positive().default(10),
  resume: z.boolean().default(false),
  /** Parameter-name prefixes kept fixed during training (a partial fine-tune), e.g. ["vision_model"]. */
  freeze: z.array(z.string().min(1)).optional(),
});
export type PretrainConfigInput = z.input<typeof PretrainConfigSchema>;
export type PretrainConfig = z.output<typeof PretrainConfigSchema>;

/** The trainer's options from a run's config (shared by pre-training and every fine-tuning task). */
export function trainOptions(cfg: PretrainConfig): TrainOptions {
  return {
    outDir: cfg.out,
    steps: cfg.steps,
    epochs: cfg.epochs,
    schedule: { kind: 'cosine', lr: cfg.lr, warmupSteps: cfg.warmupSteps, warmupLr: 1e-6, minLr: cfg.minLr },
    optimizer: { weightDecay: cfg.weightDecay },
    accumulate: cfg.accumulate,
    clipNorm: cfg.clipNorm,
    checkpointEvery: cfg.checkpointEvery,
    evalEvery: cfg.evalEvery,
    logEvery: cfg.logEvery,
    seed: cfg.seed,
    resume: cfg.resume,
    freeze: cfg.freeze,
    captionPrompt: cfg.prompt ?? '',
  };
}

export async function pretrain(input: PretrainConfigInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const parsed = PretrainConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid pretrain options:\n${z.prettifyError(parsed.error)}`);
  return pretrainParsed(parsed.data, hooks);
}

/** `pretrain` on options already checked (fine-tuning checks them once, naming its own command). */
export async function pretrainParsed(cfg: PretrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const data = await openPretrainData(cfg, hooks);
  const { model } = await pretrainingModel(cfg.model, cfg.imageSize, cfg.seed, true);
  const momentum = cfg.queueSize > 0 ? new MomentumContrast(model, cfg.queueSize, cfg.momentum, cfg.seed + 1) : undefined;
  if (momentum && cfg.queueSize % cfg.batchSize !== 0) throw new Error(`queueSize ${cfg.queueSize} must be a multiple of batchSize ${cfg.batchSize}`);
  const tokenizer = defaultTokenizer();
  const pool = new DecodePool();
  const objective: PretrainOptions = {
    weights: cfg.weights,
    alpha: cfg.alpha,
    momentum,
    encTokenId: ENC_ID,
    decTokenId: DEC_ID,
    padTokenId: PAD_ID,
    labelSmoothing: cfg.labelSmoothing,
    promptLength: cfg.prompt ? tokenizer.encodeOne(cfg.prompt).length - 2 : 0,
  };
  const captioningOnly = cfg.weights.itc === 0 && cfg.weights.itm === 0;
  const { batchesPerEpoch } = data;

  const task: TrainTask<Batch<PretrainItem>> = {
    model,
    batchesPerEpoch,
    batches: pretrainBatches(data, cfg, model.config.vision_config.image_size, tokenizer, pool),
    batchSize: (b) => b.items.length,
    before: (b, ctx) => prepareMomentum(model, toPretrainBatch(b), { ...objective, alpha: alphaAt(ctx.step, batchesPerEpoch, cfg.alpha) }),
    loss: (b, ctx, prepared) => {
      const random = createRng(ctx.stepSeed);
      return pretrainLosses(model, toPretrainBatch(b), { ...objective, alpha: alphaAt(ctx.step, batchesPerEpoch, cfg.alpha) }, prepared as MomentumFeatures | undefined, random);
    },
    after: (b, _ctx, prepared) => finishMomentum(toPretrainBatch(b), objective, prepared as MomentumFeatures | undefined),
    release: (b) => disposeBatch(b),
    evaluate: pretrainValidation(model, data, cfg, captioningOnly),
    selectMetric: captioningOnly ? 'cider' : 'r_mean',
    takeSkipped: () => data.skipped.take(),
    saveState: momentum && (() => momentum.state()),
    loadState: momentum && ((tensors, json, source) => momentum.loadState(tensors, json, source)),
  };

  try {
    return await train(task, trainOptions(cfg), hooks);
  } finally {
    await pool.close();
    momentum?.dispose();
    model.dispose();
  }
}

