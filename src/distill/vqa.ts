// Task-adaptive distillation into a VQA model (dlip distill --task vqa): teacher and student are
// BlipForQuestionAnswering. The student learns from the weighted answer loss (times the recipe's `lm`
// task weight: it is the answer decoder's LM loss) plus the recipe's KD terms on the VQA record, whose
// parts carry the pre-training names: vision, the question encoder as `fused`, the answer decoder as
// `decoder` and `lm` (answer KD: token-level KL at T).
import { tf } from '../engine/backend.js';
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import type { VqaSample } from '../data/formats/vqa.js';
import { defaultTokenizer } from '../data/tokenizer.js';
import { resolveModelPath } from '../io/checkpoint.js';
import { createModel } from '../models/blip.js';
import type { BlipForQuestionAnswering } from '../models/blip.js';
import { withImageSize } from '../models/image-size.js';
import { resolveConfig } from '../models/resolve.js';
import { initParameters } from '../nn/init.js';
import type { PretrainRecord } from '../objectives/pretrain.js';
import { answerLoss, vqaForward } from '../objectives/vqa.js';
import type { VqaBatch } from '../objectives/vqa.js';
import { exportTaskModel } from '../train/finetune.js';
import { trainOptions } from '../train/pretrain.js';
import { train } from '../train/trainer.js';
import type { TrainTask } from '../train/trainer.js';
import { openVqaData, startingModel, toVqaBatch, vqaBatches, vqaValidation } from '../train/vqa.js';
import type { AdaptorSet } from './adaptor.js';
import type { DistillConfig, DistillResult } from './distill.js';
import { vqaGate } from './gate.js';
import type { Gate } from './gate.js';
import { recipeAdaptors, recipeNeeds } from './recipe.js';
import type { Recipe } from './recipe.js';
import { vqaRows } from './rows.js';
import { taskFolderArchitecture } from './tasks.js';
import { pairTeacher } from './teacher.js';
import { recordTeacherScore } from './teacher-score.js';
import type { DistillHooks } from './teacher-score.js';

/** A VQA model: a VQA or pre-training folder's weights, or a preset's or config's seeded init. */
async function vqaModel(spec: string, imageSize: number | undefined, seed: number, role: 'teacher' | 'student'): Promise<{ model: BlipForQuestionAnswering; loaded: boolean }> {
  const path = await resolveModelPath(spec, { presets: true });
  const resolved = resolveConfig(path);
  if (resolved.kind === 'folder') return { model: await startingModel(path, imageSize, `a VQA ${role} is`), loaded: true };
  const model = createModel(withImageSize(resolved.config, imageSize, spec), 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
  initParameters(model, seed);
  return { model, loaded: false };
}

/** What `before` made off the tape: the batch with its answer rows, the teacher's record and its gate. */
interface Prepared {
  batch: VqaBatch;
  teacher?: PretrainRecord;
  gate?: Gate;
}

export async function distillVqa(cfg: DistillConfig, recipe: Recipe, hooks: DistillHooks): Promise<DistillResult> {
  // Before any data is read: a wrong-task folder is refused up front.
  await taskFolderArchitecture(cfg.teacher, 'vqa', 'teacher');
  await taskFolderArchitecture(cfg.student, 'vqa', 'student');
  const data = await openVqaData(cfg, hooks);
  const built = await vqaModel(cfg.student, cfg.imageSize, cfg.seed, 'student');
  const student = built.model;
  let teacher: BlipForQuestionAnswering | undefined;
  let adaptors: AdaptorSet | undefined;
  const pool = new DecodePool();
  try {
    teacher = await pairTeacher(built, cfg, recipe, () => vqaModel(cfg.teacher, cfg.imageSize, cfg.seed + 1, 'teacher'), hooks);
    adaptors = recipeAdaptors(recipe, student.config, teacher?.config);
    initParameters(adaptors, cfg.seed + 2);
    const kdAdaptors = adaptors;
    const needs = recipeNeeds(recipe);
    const outputs = { outputHiddenStates: needs.hiddenStates, outputAttentions: needs.attentions };
    const tokenizer = defaultTokenizer();

    const task: TrainTask<Batch<VqaSample>> = {
      model: student,
      extraModules: adaptors.namedParameters().size > 0 ? { adaptors } : undefined,
      batchesPerEpoch: data.batchesPerEpoch,
      batches: vqaBatches(data, cfg, student.config.vision_config.image_size, tokenizer, pool),
      batchSize: (b) => b.items.length,
      before: (b): Prepared => {
        const batch = toVqaBatch(b, tokenizer);
        if (!teacher) return { batch };
        // vqaForward's record is a plain object of tensors: tidy keeps every one of them.
        const record = tf.tidy(() => vqaForward(teacher!, batch, outputs) as unknown as tf.TensorContainer) as unknown as PretrainRecord;
        return { batch, teacher: record, gate: cfg.gate ? vqaGate(teacher, batch, record) : undefined };
      },
      loss: (_b, _ctx, prepared) => {
        const { batch, teacher: teacherRecord, gate } = prepared as Prepared;
        const record = vqaForward(student, batch, outputs);
        const answer = answerLoss(student, record, batch, cfg.labelSmoothing);
        const terms: Record<string, tf.Scalar> = { vqa: answer };
        if (gate) terms.gated = tf.scalar(gate.gated);
        const weighted: tf.Tensor[] = [tf.mul(answer, recipe.task.lm)];
        const rows = vqaRows(batch, gate?.keep);
        for (const { term, options } of recipe.terms) {
          const value = term.loss(record, teacherRecord!, { options, adaptors: kdAdaptors, student, teacher: teacher!, rows });
          terms[`kd_${term.name}`] = value;
          weighted.push(tf.mul(value, options.weight));
        }
        return { total: tf.addN(weighted) as tf.Scalar, terms };
      },
      after: (_b, _ctx, prepared) => {
        const { batch, teacher: kept, gate } = prepared as Prepared;
        tf.dispose([batch.answerIds, batch.answerMask, ...(gate ? [gate.keep] : [])]);
        if (kept) tf.dispose(kept as unknown as tf.TensorContainer);
      },
      release: (b) => disposeBatch(b),
      evaluate: vqaValidation(student, data, cfg),
      selectMetric: 'accuracy',
      takeSkipped: () => data.skipped.take(),
    };
    if (teacher) await recordTeacherScore(vqaValidation(teacher, data, cfg), cfg, { teacher: teacher.parameterCount(), student: student.parameterCount() }, hooks);
    const result = await train(task, trainOptions({ ...cfg, model: cfg.student, weights: recipe.task }), hooks);
    return { ...result, modelDir: await exportTaskModel(result, 'BlipForQuestionAnswering', cfg.out) };
  } finally {
    await pool.close();
    adaptors?.dispose();
    teacher?.dispose();
    student.dispose();
  }
}
