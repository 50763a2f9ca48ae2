import type { Command } from 'commander';
import { finetune, FINETUNE_TASKS } from '../../train/finetune.js';
import type { FinetuneInput } from '../../train/finetune.js';
import { trainingProgress } from '../progress.js';
import { int, num, readConfigFile } from '../options.js';

export function registerFinetune(program: Command): void {
  program
    .command('finetune')
    .description('fine-tune a checkpoint for one task and export the task model to <out>/model')
    .requiredOption('--model <dir>', 'checkpoint to start from (e.g. the final/ folder of dlip pretrain)')
    .requiredOption('--task <task>', `${FINETUNE_TASKS.join(' or ')} (ITC + ITM, or LM after a prompt)`)
    .requiredOption('--out <dir>', 'run folder: checkpoints, metrics.jsonl, best/, final/ and the exported model/')
    .option('--config <file>', 'JSON file with any of the options below (command-line flags win)')
    .option('--data <dataset.json>', 'a dataset manifest; default: the built-in world')
    .option('--world <size>', 'built-in world size when --data is absent (default small)')
    .option('--prompt <text>', 'captioning prompt, not predicted (default "a picture of ")')
    .option('--epochs <n>', 'epochs to train (default 10)', int)
    .option('--steps <n>', 'optimizer steps (overrides --epochs)', int)
    .option('--batch-size <n>', 'images per batch (default 32)', int)
    .option('--lr <x>', 'peak learning rate (default 3e-4)', num)
    .option('--warmup-steps <n>', 'linear warm-up steps (default 100)', int)
    .option('--queue-size <n>', 'retrieval: ITC momentum queue length (default 1024)', int)
    .option('--eval-every <n>', 'steps between validation runs; the best model is exported', int)
    .option('--checkpoint-every <n>', 'steps between checkpoints (default 200)', int)
    .option('--seed <n>', 'seed (default 0)', int)
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .action(async (opts: Record<string, unknown>) => {
      const fromFile = opts.config ? await readConfigFile(String(opts.config)) : {};
      const flags = Object.fromEntries(Object.entries(opts).filter(([k, v]) => k !== 'config' && v !== undefined));
      const progress = trainingProgress(`finetune ${String(opts.task)}`);
      const result = await finetune({ ...fromFile, ...flags } as unknown as FinetuneInput, progress).finally(() => progress.stop());
      process.stdout.write(`trained ${result.steps} steps in ${result.seconds.toFixed(0)} s\nmodel: ${result.modelDir}\n`);
    });
}
