// `dlip pretrain`: BLIP's pre-training (ITC + ITM + LM) of a model on image-caption pairs, the
// built-in world by default. Wires data → BlipForPreTraining → objectives → trainer.

import { z } from 'zod';
import { openDataset } from '../data/manifest.js';
import { ON_BAD_SAMPLE, SkipCounter } from '../data/errors.js';
import { builtinWorld } from '../data/world/synth.js';
import { captionPairs } from '../data/pipeline/samples.js';
import type { CaptionPair } from '../data/pipeline/samples.js';
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch, loadBatches } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import { DEC_ID, ENC_ID, PAD_ID, defaultTokenizer } from '../data/tokenizer.js';
import { createModel } from '../models/blip.js';
import type { BlipForPreTraining } from '../models/blip.js';
import { resolveConfig } from '../models/resolve.js';
import { withImageSize } from '../models/image-size.js';
import { loadModel, resolveModelPath } from '../io/checkpoint.js';
import { createRng, initParameters } from '../nn/init.js';
import { MomentumContrast } from '../objectives/momentum.js';
import { finishMomentum, prepareMomentum, pretrainLosses } from '../objectives/pretrain.js';
import type { MomentumFeatures, PretrainOptions } from '../objectives/pretrain.js';
import { alphaAt } from './schedule.js';
import { evaluateLoaded } from '../eval/run.js';
import { train, warn } from './trainer.js';
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
  };
}

interface PretrainItem {
  pair: CaptionPair;
  imageIndex: number;
}

export async function pretrain(input: PretrainConfigInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const parsed = PretrainConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid pretrain options:\n${z.prettifyError(parsed.error)}`);
  const cfg = parsed.data;
  const builtin = cfg.data === undefined;
  const dataset = openDataset(cfg.data ?? (await builtinWorld(cfg.world, 0)));
  const skipped = new SkipCounter();
  const pairs = captionPairs(dataset.captions('train', { onBadSample: cfg.onBadSample, onSkip: (p) => skipped.add(p.length) }), cfg.maxWords);
  const imageIndex = new Map<string, number>();
  const items: PretrainItem[] = pairs.map((pair) => {
    if (!imageIndex.has(pair.imageId)) imageIndex.set(pair.imageId, imageIndex.size);
    return { pair, imageIndex: imageIndex.get(pair.imageId)! };
  });
  const batchesPerEpoch = Math.floor(items.length / cfg.batchSize);
  if (batchesPerEpoch === 0) throw new Error(`${dataset.file}: ${items.length} training pairs are fewer than one batch of ${cfg.batchSize}`);
  const validates = dataset.manifest.splits.val?.captions !== undefined;
  if (!validates) warn(hooks, `${dataset.file} has no "val" split with captions: the run is not validated and keeps no best/ model`);

  const modelPath = await resolveModelPath(cfg.model, { presets: true }); // a hub name: its snapshot in the HF cache
  const resolved = resolveConfig(modelPath);
  let model: BlipForPreTraining;
  if (resolved.kind === 'folder') {
    model = (await loadModel(modelPath, { architecture: 'BlipForPreTraining', partial: true, imageSize: cfg.imageSize })).model as BlipForPreTraining;
  } else {
    model = createModel(withImageSize(resolved.config, cfg.imageSize, cfg.model), 'BlipForPreTraining') as BlipForPreTraining;
  }
  initParameters(model, cfg.seed); // fills whatever no checkpoint provided
  const imageSize = model.config.vision_config.image_size;
  const momentum = cfg.queueSize > 0 ? new MomentumContrast(model, cfg.queueSize, cfg.momentum, cfg.seed + 1) : undefined;
  if (momentum && cfg.queueSize % cfg.batchSize !== 0) throw new Error(`queueSize ${cfg.queueSize} must be a multiple of batchSize ${cfg.batchSize}`);
  const tokenizer = defaultTokenizer();
  const pool = new DecodePool();
  const flip = cfg.flip ?? (builtin ? 0.5 : 0);
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
  const toBatch = (b: Batch<PretrainItem>) => ({
    pixels: b.pixels,
    inputIds: b.inputIds!,
    attentionMask: b.attentionMask!,
    imageIds: b.items.map((i) => i.imageIndex),
  });

  const task: TrainTask<Batch<PretrainItem>> = {
    model,
    batchesPerEpoch,
    batches: (epoch, skip) =>
      loadBatches(
        items,
        {
          batchSize: cfg.batchSize,
          imageSize,
          image: (i) => i.pair.image,
          describe: (i) => i.pair.source, // the loader adds the image path
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
    before: (b, ctx) => prepareMomentum(model, toBatch(b), { ...objective, alpha: alphaAt(ctx.step, batchesPerEpoch, cfg.alpha) }),
    loss: (b, ctx, prepared) => {
      const random = createRng(ctx.stepSeed);
      return pretrainLosses(model, toBatch(b), { ...objective, alpha: alphaAt(ctx.step, batchesPerEpoch, cfg.alpha) }, prepared as MomentumFeatures | undefined, random);
    },
    after: (b, _ctx, prepared) => finishMomentum(toBatch(b), objective, prepared as MomentumFeatures | undefined),
    release: (b) => disposeBatch(b),
    // Retrieval when a contrastive or matching term trains, else captioning (greedy, for speed).
    evaluate: !validates ? undefined : async (): Promise<Record<string, number>> => {
      if (captioningOnly) {
        const report = await evaluateLoaded(model, 'training', dataset, { split: 'val', tasks: ['caption'], limit: cfg.evalImages, numBeams: 1, prompt: cfg.prompt ?? '', onBadSample: cfg.onBadSample });
        return { bleu4: report.caption!.bleu4, cider: report.caption!.cider };
      }
      const report = await evaluateLoaded(model, 'training', dataset, { split: 'val', tasks: ['retrieval'], limit: cfg.evalImages, k: 16, onBadSample: cfg.onBadSample });
      const r = report.retrieval!;
      return { tr1: r.recall[1]!, ir1: r.imageRecall[1]!, r_mean: r.mean };
    },
    selectMetric: captioningOnly ? 'cider' : 'r_mean',
    takeSkipped: () => skipped.take(),
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

