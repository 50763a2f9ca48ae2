// VQA fine-tuning (dlip finetune --task vqa): BlipForQuestionAnswering, initialised from a
// pre-training checkpoint as BLIP does, trained with the frequency-weighted answer loss.
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch, loadBatches } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import type { VqaSample } from '../data/formats/vqa.js';
import { preQuestion } from '../data/text.js';
import { defaultTokenizer, PAD_ID } from '../data/tokenizer.js';
import { loadModel } from '../io/checkpoint.js';
import type { BlipForPreTraining, BlipForQuestionAnswering } from '../models/blip.js';
import { taskModelFrom } from '../models/convert.js';
import { evaluateLoaded } from '../eval/run.js';
import { answerWeights, vqaAnswerLoss } from '../objectives/vqa.js';
import { openTrainingData } from './pretrain-data.js';
import { train } from './trainer.js';
import type { TrainHooks, TrainResult, TrainTask } from './trainer.js';
import { trainOptions } from './pretrain.js';
import type { PretrainConfig } from './pretrain.js';

async function startingModel(dir: string, imageSize: number | undefined): Promise<BlipForQuestionAnswering> {
  const { model } = await loadModel(dir, { imageSize });
  if (model.architecture === 'BlipForQuestionAnswering') return model as BlipForQuestionAnswering;
  if (model.architecture !== 'BlipForPreTraining') {
    model.dispose();
    throw new Error(`${dir} is a ${model.architecture}; VQA fine-tuning starts from a pre-training (or VQA) checkpoint`);
  }
  const vqa = taskModelFrom(model as BlipForPreTraining, 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
  model.dispose();
  return vqa;
}

export async function finetuneVqa(cfg: PretrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const { dataset, items: samples, batchesPerEpoch, skipped, validates } = await openTrainingData(cfg, hooks, {
    read: (d, counter) => d.vqa('train', { onBadSample: cfg.onBadSample, onSkip: (p) => counter.add(p.length) }).filter((s) => s.answers.length > 0),
    noun: 'answered training questions',
    val: 'vqa',
  });
  const model = await startingModel(cfg.model, cfg.imageSize);
  const tokenizer = defaultTokenizer();
  const pool = new DecodePool();
  const answers = (b: Batch<VqaSample>) => {
    const rows = b.items.flatMap((s, q) => answerWeights(s.answers).map((a) => ({ ...a, q })));
    const encoded = tokenizer.encodeToTensors(rows.map((r) => r.answer), { maxLength: 10, padding: 'longest', firstToken: 'dec' });
    return { rows, encoded };
  };
  const task: TrainTask<Batch<VqaSample>> = {
    model,
    batchesPerEpoch,
    batches: (epoch, skip) =>
      loadBatches(samples, {
        batchSize: cfg.batchSize,
        imageSize: model.config.vision_config.image_size,
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
        onSkip: skipped.add,
      }, epoch),
    batchSize: (b) => b.items.length,
    loss: (b) => {
      const { rows, encoded } = answers(b);
      const loss = vqaAnswerLoss(model, {
        pixels: b.pixels,
        questionIds: b.inputIds!,
        questionMask: b.attentionMask!,
        answerIds: encoded.inputIds,
        answerMask: encoded.attentionMask,
        answerOf: rows.map((r) => r.q),
        weights: rows.map((r) => r.weight),
        padTokenId: PAD_ID,
      }, cfg.labelSmoothing);
      return { total: loss, terms: { vqa: loss } };
    },
    release: (b) => disposeBatch(b),
    evaluate: !validates ? undefined : async () => {
      const report = await evaluateLoaded(model, 'training', dataset, { split: 'val', tasks: ['vqa'], limit: cfg.evalImages, vqaK: 16, onBadSample: cfg.onBadSample });
      return { accuracy: report.vqa!.accuracy };
    },
    selectMetric: 'accuracy',
    takeSkipped: () => skipped.take(),
  };
  try {
    return await train(task, trainOptions(cfg), hooks);
  } finally {
    await pool.close();
    model.dispose();
  }
}
