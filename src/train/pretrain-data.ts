// What the training commands read alike: a dataset's training samples and whether it validates (all of
// them), and for pre-training and distillation its caption pairs, their batches, validation on the val
// split, and a model to train as BlipForPreTraining.
import { openDataset } from '../data/manifest.js';
import type { Dataset } from '../data/manifest.js';
import { SkipCounter } from '../data/errors.js';
import { builtinWorld } from '../data/world/synth.js';
import { captionPairs } from '../data/pipeline/samples.js';
import type { CaptionPair } from '../data/pipeline/samples.js';
import type { DecodePool } from '../data/pipeline/decode-pool.js';
import { loadBatches } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import type { BlipTokenizer } from '../data/tokenizer.js';
import { evaluateLoaded } from '../eval/run.js';
import { loadModel, resolveModelPath } from '../io/checkpoint.js';
import { createModel } from '../models/blip.js';
import type { BlipForPreTraining } from '../models/blip.js';
import { withImageSize } from '../models/image-size.js';
import { resolveConfig } from '../models/resolve.js';
import { initParameters } from '../nn/init.js';
import type { PretrainBatch } from '../objectives/pretrain.js';
import type { PretrainConfig } from './pretrain.js';
import { warn } from './trainer.js';
import type { TrainHooks } from './trainer.js';

/** The options the data side reads. */
type DataConfig = Pick<PretrainConfig, 'data' | 'world' | 'onBadSample' | 'maxWords' | 'batchSize' | 'maxTokens' | 'prompt' | 'seed' | 'flip' | 'evalImages'>;

export interface PretrainItem {
  pair: CaptionPair;
  /** The pair's index among the training pairs (a teacher-target cache finds its row by it). */
  index: number;
  /** The image's index among the training images: captions of one image are not each other's negatives. */
  imageIndex: number;
}

/** What a training command reads first: its dataset and training samples, and whether it can validate. */
export interface TrainingData<S> {
  dataset: Dataset;
  /** The built-in world, whose flips swap "left" and "right" in the text. */
  builtin: boolean;
  items: S[];
  batchesPerEpoch: number;
  /** Samples left out as bad (--on-bad-sample skip), reading the manifest and loading batches. */
  skipped: SkipCounter;
  /** Whether the manifest's val split has what validation reads. */
  validates: boolean;
}

export type PretrainData = TrainingData<PretrainItem>;

/** Where a command's training samples come from, and what its validation reads. */
interface TrainingSamples<S> {
  /** The training samples of `dataset`; bad ones left out are added to `skipped`. */
  read(dataset: Dataset, skipped: SkipCounter): S[];
  /** The samples, named in the error when they fill no batch ("training pairs"). */
  noun: string;
  /** The val split's part that validation reads. */
  val: keyof typeof VAL_NOUN;
}

/** What validation reads from the val split, named in the warning when it is absent. */
const VAL_NOUN = { captions: 'captions', vqa: 'VQA questions' } as const;

/**
 * The training samples of `cfg`'s data (the built-in world by default), refusing fewer than one batch;
 * warns once when the val split lacks what validation reads (the run then keeps no best/ model).
 */
export async function openTrainingData<S>(cfg: Pick<DataConfig, 'data' | 'world' | 'batchSize'>, hooks: TrainHooks, samples: TrainingSamples<S>): Promise<TrainingData<S>> {
  const builtin = cfg.data === undefined;
  const dataset = openDataset(cfg.data ?? (await builtinWorld(cfg.world, 0)));
  const skipped = new SkipCounter();
  const items = samples.read(dataset, skipped);
  const batchesPerEpoch = Math.floor(items.length / cfg.batchSize);
  if (batchesPerEpoch === 0) throw new Error(`${dataset.file}: ${items.length} ${samples.noun} are fewer than one batch of ${cfg.batchSize}`);
  const validates = dataset.manifest.splits.val?.[samples.val] !== undefined;
  if (!validates) warn(hooks, `${dataset.file} has no "val" split with ${VAL_NOUN[samples.val]}: the run is not validated and keeps no best/ model`);
  return { dataset, builtin, items, batchesPerEpoch, skipped, validates };
}

/** The training pairs of `cfg`'s data (the built-in world by default); warns once when there is no val split. */
export function openPretrainData(cfg: DataConfig, hooks: TrainHooks): Promise<PretrainData> {
  return openTrainingData(cfg, hooks, {
    read: (dataset, skipped) => {
      const pairs = captionPairs(dataset.captions('train', { onBadSample: cfg.onBadSample, onSkip: (p) => skipped.add(p.length) }), cfg.maxWords);
      const imageIndex = new Map<string, number>();
      return pairs.map((pair, index) => {
        if (!imageIndex.has(pair.imageId)) imageIndex.set(pair.imageId, imageIndex.size);
        return { pair, index, imageIndex: imageIndex.get(pair.imageId)! };
      });
    },
    noun: 'training pairs',
    val: 'captions',
  });
}

/** How a training pair becomes an image and tokens, whatever the order and augmentation. */
function pairLoading(cfg: DataConfig, imageSize: number, tokenizer: BlipTokenizer, pool: DecodePool) {
  return {
    batchSize: cfg.batchSize,
    imageSize,
    image: (i: PretrainItem) => i.pair.image,
    describe: (i: PretrainItem) => i.pair.source, // the loader adds the image path
    text: (i: PretrainItem) => (cfg.prompt ?? '') + i.pair.caption,
    tokenizer,
    maxLength: cfg.maxTokens,
    firstToken: 'cls' as const,
    pool,
    onBadSample: cfg.onBadSample,
  };
}

/** The flip probability of training: `cfg.flip`, else 0.5 on the built-in world and 0 on real data. */
export function flipProbability(data: PretrainData, cfg: Pick<DataConfig, 'flip'>): number {
  return cfg.flip ?? (data.builtin ? 0.5 : 0);
}

/** The trainer's `batches`: shuffled by (seed, epoch), flipped at random on the built-in world. */
export function pretrainBatches(data: PretrainData, cfg: DataConfig, imageSize: number, tokenizer: BlipTokenizer, pool: DecodePool) {
  const flip = flipProbability(data, cfg);
  return (epoch: number, skip: number) =>
    loadBatches(
      data.items,
      {
        ...pairLoading(cfg, imageSize, tokenizer, pool),
        shuffle: true,
        seed: cfg.seed,
        dropLast: true,
        skipBatches: skip,
        augment: { flipProbability: flip, flipSwapsLeftRight: data.builtin },
        onSkip: data.skipped.add,
      },
      epoch,
    );
}

/**
 * `items` in order, all flipped or none, loaded as training loads them (a teacher-target cache computes
 * each view once); bad samples are left out or fail as in training, but not counted in its metrics.
 */
export function pairViewBatches(data: PretrainData, cfg: DataConfig, items: readonly PretrainItem[], flipped: boolean, imageSize: number, tokenizer: BlipTokenizer, pool: DecodePool) {
  return loadBatches(items, { ...pairLoading(cfg, imageSize, tokenizer, pool), shuffle: false, augment: { flipProbability: flipped ? 1 : 0, flipSwapsLeftRight: data.builtin } });
}

export function toPretrainBatch(b: Batch<PretrainItem>): PretrainBatch {
  return { pixels: b.pixels, inputIds: b.inputIds!, attentionMask: b.attentionMask!, imageIds: b.items.map((i) => i.imageIndex) };
}

/**
 * Validation on the val split: retrieval (top 16 reranked) when a contrastive or matching term trains,
 * else captioning (greedy, for speed); none without a val split.
 */
export function pretrainValidation(model: BlipForPreTraining, data: PretrainData, cfg: DataConfig, captioningOnly: boolean) {
  if (!data.validates) return undefined;
  return async (): Promise<Record<string, number>> => {
    const common = { split: 'val', limit: cfg.evalImages, onBadSample: cfg.onBadSample } as const;
    if (captioningOnly) {
      const report = await evaluateLoaded(model, 'training', data.dataset, { ...common, tasks: ['caption'], numBeams: 1, prompt: cfg.prompt ?? '' });
      return { bleu4: report.caption!.bleu4, cider: report.caption!.cider };
    }
    const report = await evaluateLoaded(model, 'training', data.dataset, { ...common, tasks: ['retrieval'], k: 16 });
    const r = report.retrieval!;
    return { tr1: r.recall[1]!, ir1: r.imageRecall[1]!, r_mean: r.mean };
  };
}

/**
 * A model as BlipForPreTraining: a folder's (or hub name's) weights, all of them unless `partial`, or a
 * preset's or config's seeded init; whatever no checkpoint provided is initialised from `seed`.
 */
export async function pretrainingModel(spec: string, imageSize: number | undefined, seed: number, partial: boolean): Promise<{ model: BlipForPreTraining; loaded: boolean }> {
  const path = await resolveModelPath(spec, { presets: true }); // a hub name: its snapshot in the HF cache
  const resolved = resolveConfig(path);
  const model =
    resolved.kind === 'folder'
      ? ((await loadModel(path, { architecture: 'BlipForPreTraining', partial, imageSize })).model as BlipForPreTraining)
      : (createModel(withImageSize(resolved.config, imageSize, spec), 'BlipForPreTraining') as BlipForPreTraining);
  initParameters(model, seed);
  return { model, loaded: resolved.kind === 'folder' };
}
