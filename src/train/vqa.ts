// VQA fine-tuning (dlip finetune --task vqa): BlipForQuestionAnswering, initialised from a
// pre-training checkpoint as BLIP does, trained with the frequency-weighted answer loss. Its data,
// batches and validation are shared with VQA distillation.
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch, loadBatches } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import type { VqaSample } from '../data/formats/vqa.js';
import { preQuestion } from '../data/text.js';
import type { BlipTokenizer } from '../data/tokenizer.js';
import { defaultTokenizer, PAD_ID } from '../data/tokenizer.js';
import { loadModel } from '../io/checkpoint.js';
import type { BlipForPreTraining, BlipForQuestionAnswering } from '../models/blip.js';
import { taskModelFrom } from '../models/convert.js';
import { evaluateLoaded } from '../eval/run.js';
import { answerWeights, vqaAnswerLoss } from '../objectives/vqa.js';
import type { VqaBatch } from '../objectives/vqa.js';
import { openTrainingData } from './pretrain-data.js';
import type { TrainingData } from './pretrain-data.js';
import { train } from './trainer.js';
import type { TrainHooks, TrainResult, TrainTask } from './trainer.js';
import { trainOptions } from './pretrain.js';
import type { PretrainConfig } from './pretrain.js';

/** A VQA model from a VQA folder, or converted from a pre-training one; `role` names it in errors. */
export async function startingModel(dir: string, imageSize: number | undefined, role = 'VQA fine-tuning starts from'): Promise<BlipForQuestionAnswering> {
  const { model } = await loadModel(dir, { imageSize });
  if (model.architecture === 'BlipForQuestionAnswering') return model as BlipForQuestionAnswering;
  if (model.architecture !== 'BlipForPreTraining') {
    model.dispose();
    throw new Error(`${dir} is a ${model.architecture}; ${role} a pre-training (or VQA) checkpoint`);
  }
  const vqa = taskModelFrom(model as BlipForPreTraining, 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
  model.dispose();
  return vqa;
}

type VqaDataConfig = Pick<PretrainConfig, 'data' | 'world' | 'batchSize' | 'onBadSample' | 'seed' | 'evalImages'>;

/** The answered training questions of `cfg`'s data (the built-in world by default). */
export function openVqaData(cfg: VqaDataConfig, hooks: TrainHooks): Promise<TrainingData<VqaSample>> {
  return openTrainingData(cfg, hooks, {
    read: (d, counter) => d.vqa('train', { onBadSample: cfg.onBadSample, onSkip: (p) => counter.add(p.length) }).filter((s) => s.answers.length > 0),
    noun: 'answered training questions',
    val: 'vqa',
  });
}

/** The trainer's `batches`: questions ([ENC] first) with their images, in a fixed shuffled order. */
export function vqaBatches(data: TrainingData<VqaSample>, cfg: VqaDataConfig, imageSize: number, tokenizer: BlipTokenizer, pool: DecodePool) {
  return (epoch: number, skip: number) =>
    loadBatches(data.items, {
      batchSize: cfg.batchSize,
      imageSize,
      image: (s) => s.image,
      describe: (s) => `${s.source}: question ${s.questionId}`,
      text: (s) => preQuestion(s.question),
      tokenizer,
      maxLength: 35,
      firstToken: 'enc',
      seed: cfg.seed,
      dropLast: true,
      skipBatches: skip,
      pool,
      onBadSample: cfg.onBadSample,
      onSkip: data.skipped.add,
    }, epoch);
}

/** A loaded batch with its answer rows: every distinct human answer of each question, weighted by its share. */
export function toVqaBatch(b: Batch<VqaSample>, tokenizer: BlipTokenizer): VqaBatch {
  const rows = b.items.flatMap((s, q) => answerWeights(s.answers).map((a) => ({ ...a, q })));
  const encoded = tokenizer.encodeToTensors(rows.map((r) => r.answer), { maxLength: 10, padding: 'longest', firstToken: 'dec' });
  return {
    pixels: b.pixels,
    questionIds: b.inputIds!,
    questionMask: b.attentionMask!,
    answerIds: encoded.inputIds,
    answerMask: encoded.attentionMask,
    answerOf: rows.map((r) => r.q),
    weights: rows.map((r) => r.weight),
    padTokenId: PAD_ID,
  };
}

/** Validation accuracy on the val split's questions (top 16 answers ranked); none without them. */
export function vqaValidation(model: BlipForQuestionAnswering, data: TrainingData<VqaSample>, cfg: VqaDataConfig) {
  if (!data.validates) return undefined;
  return async (): Promise<Record<string, number>> => {
    const report = await evaluateLoaded(model, 'training', data.dataset, { split: 'val', tasks: ['vqa'], limit: cfg.evalImages, vqaK: 16, onBadSample: cfg.onBadSample });
    return { accuracy: report.vqa!.accuracy };
  };
}

export async function finetuneVqa(cfg: PretrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const data = await openVqaData(cfg, hooks);
  const model = await startingModel(cfg.model, cfg.imageSize);
  const tokenizer = defaultTokenizer();
  const pool = new DecodePool();
  const task: TrainTask<Batch<VqaSample>> = {
    model,
    batchesPerEpoch: data.batchesPerEpoch,
    batches: vqaBatches(data, cfg, model.config.vision_config.image_size, tokenizer, pool),
    batchSize: (b) => b.items.length,
    loss: (b) => {
      const loss = vqaAnswerLoss(model, toVqaBatch(b, tokenizer), cfg.labelSmoothing);
      return { total: loss, terms: { vqa: loss } };
    },
    release: (b) => disposeBatch(b),
    evaluate: vqaValidation(model, data, cfg),
    selectMetric: 'accuracy',
    takeSkipped: () => data.skipped.take(),
  };
  try {
    return await train(task, trainOptions(cfg), hooks);
  } finally {
    await pool.close();
    model.dispose();
  }
}
