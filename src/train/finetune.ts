// `dlip finetune`: BLIP's task fine-tuning from a checkpoint. Retrieval and captioning run as the
// pre-training composite with the task's terms (ITC + ITM; LM after a prompt) and are exported as the
// task model in <out>/model; VQA trains BlipForQuestionAnswering itself (train/vqa.ts).
import { join } from 'node:path';
import { loadModel, saveModel } from '../io/checkpoint.js';
import type { BlipForPreTraining } from '../models/blip.js';
import { taskModelFrom } from '../models/convert.js';
import { shippedModelDir } from '../models/shipped.js';
import type { Architecture } from '../models/config.js';
import { z } from 'zod';
import { pretrainParsed, PretrainConfigSchema } from './pretrain.js';
import { finetuneVqa } from './vqa.js';
import type { PretrainConfigInput } from './pretrain.js';
import type { TrainHooks, TrainResult } from './trainer.js';

export const FINETUNE_TASKS = ['retrieval', 'caption', 'vqa'] as const;
export type FinetuneTask = (typeof FINETUNE_TASKS)[number];

const EXPORT: Record<FinetuneTask, Architecture> = {
  retrieval: 'BlipForImageTextRetrieval',
  caption: 'BlipForConditionalGeneration',
  vqa: 'BlipForQuestionAnswering',
};

export interface FinetuneInput extends Omit<PretrainConfigInput, 'weights' | 'prompt'> {
  task: FinetuneTask | string;
  /** Starting checkpoint (VQA: a pre-training or VQA model folder). */
  model?: string;
  /** Captioning prompt (BLIP: "a picture of "). */
  prompt?: string;
}

export async function finetune(input: FinetuneInput, hooks: TrainHooks = {}): Promise<TrainResult & { modelDir: string }> {
  const task = input.task as FinetuneTask;
  if (!(FINETUNE_TASKS as readonly string[]).includes(task)) {
    throw new Error(`--task ${input.task} is not supported; fine-tuning covers ${FINETUNE_TASKS.join(', ')}`);
  }
  const { task: _task, ...rest } = input;
  // Fine-tuning starts from trained weights: a shipped model's name wins over the preset of the same name.
  if (rest.model) rest.model = shippedModelDir(rest.model) ?? rest.model;
  // Checked once, here, for every task, so errors name the command the user ran.
  const parsed = PretrainConfigSchema.safeParse(rest);
  if (!parsed.success) throw new Error(`invalid finetune options:\n${z.prettifyError(parsed.error)}`);
  let result: TrainResult;
  if (task === 'vqa') {
    result = await finetuneVqa(parsed.data, hooks);
  } else {
    const weights = task === 'retrieval' ? { itc: 1, itm: 1, lm: 0 } : { itc: 0, itm: 0, lm: 1 };
    result = await pretrainParsed({ ...parsed.data, weights, prompt: task === 'caption' ? (parsed.data.prompt ?? 'a picture of ') : undefined }, hooks);
  }
  return { ...result, modelDir: await exportTaskModel(result, EXPORT[task], input.out) };
}

/**
 * Writes the run's best (else final) weights as `architecture` to <out>/model and returns that folder:
 * a composite is converted, a model already of that architecture copied. Shared with `dlip distill`.
 */
export async function exportTaskModel(result: TrainResult, architecture: Architecture, out: string): Promise<string> {
  const { model, manifest } = await loadModel(result.bestDir ?? result.finalDir);
  const exported = model.architecture === architecture ? model : taskModelFrom(model as BlipForPreTraining, architecture);
  const modelDir = join(out, 'model');
  await saveModel(exported, modelDir, { captionPrompt: manifest?.captionPrompt });
  exported.dispose();
  if (exported !== model) model.dispose();
  return modelDir;
}
