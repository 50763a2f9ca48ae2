import type { Command } from 'commander';
import { finetune, FINETUNE_TASKS } from '../../train/finetune.js';
import type { FinetuneInput } from '../../train/finetune.js';
import { trainedSummary, trainingProgress } from '../progress.js';
import { addTrainingOptions, mergedOptions } from '../options.js';

export function registerFinetune(program: Command): void {
  const command = program
    .command('finetune')
    .description('fine-tune a checkpoint for one task and export the task model to <out>/model')
    .requiredOption('--model <dir|name>', 'checkpoint to start from (e.g. the final/ folder of dlip pretrain) or Hugging Face name (owner/name[@revision])')
    .requiredOption('--task <task>', `${FINETUNE_TASKS.join(', ')} (ITC + ITM; LM after a prompt; weighted answer loss)`)
    .requiredOption('--out <dir>', 'run folder: checkpoints, metrics.jsonl, best/, final/ and the exported model/')
    .option('--prompt <text>', 'captioning prompt, not predicted (default "a picture of ")')
    .option('--freeze <prefixes>', 'comma-separated parameter-name prefixes to keep fixed, e.g. vision_model,text_encoder (a partial fine-tune: smaller delta updates)', (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean));
  addTrainingOptions(command).action(async (opts: Record<string, unknown>) => {
    const progress = trainingProgress(`finetune ${String(opts.task)}`);
    const result = await finetune((await mergedOptions(opts)) as unknown as FinetuneInput, progress).finally(() => progress.stop());
    process.stdout.write(`${trainedSummary(result)}\nmodel: ${result.modelDir}\n`);
  });
}
