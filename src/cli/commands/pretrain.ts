import type { Command } from 'commander';
import { pretrain } from '../../train/pretrain.js';
import type { PretrainConfigInput } from '../../train/pretrain.js';
import { trainingProgress } from '../progress.js';
import { readConfigFile, int, num } from '../options.js';

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('pre-train a BLIP model (ITC + ITM + LM) — by default the tiny-teacher preset on the built-in world')
    .requiredOption('--out <dir>', 'run folder: checkpoints, metrics.jsonl, final/ and best/ models')
    .option('--config <file>', 'JSON file with any of the options below (command-line flags win)')
    .option('--model <preset|dir>', 'preset, model folder or config JSON to start from (default tiny-teacher)')
    .option('--data <dataset.json>', 'a dataset manifest (see `dlip data synth`); default: the built-in world')
    .option('--world <size>', 'built-in world size when --data is absent: tiny, small, large (default small)')
    .option('--epochs <n>', 'epochs to train (default 10)', int)
    .option('--steps <n>', 'optimizer steps to train (overrides --epochs)', int)
    .option('--batch-size <n>', 'images per batch (default 32)', int)
    .option('--lr <x>', 'peak learning rate (default 3e-4), warm-up then cosine decay', num)
    .option('--warmup-steps <n>', 'linear warm-up steps (default 100)', int)
    .option('--accumulate <n>', 'micro-batches per optimizer step (default 1)', int)
    .option('--clip-norm <x>', 'clip the global gradient norm', num)
    .option('--queue-size <n>', 'ITC momentum queue length; 0 = plain in-batch InfoNCE (default 1024)', int)
    .option('--checkpoint-every <n>', 'steps between checkpoints (default 200)', int)
    .option('--eval-every <n>', 'steps between validation retrieval runs; the best model goes to best/ (default: at the end)', int)
    .option('--eval-images <n>', 'validation images per evaluation (default 200)', int)
    .option('--seed <n>', 'seed for init, data order, augmentation and sampling (default 0)', int)
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .action(async (opts: Record<string, unknown>) => {
      const fromFile = opts.config ? await readConfigFile(String(opts.config)) : {};
      const flags = Object.fromEntries(Object.entries(opts).filter(([k, v]) => k !== 'config' && v !== undefined));
      const progress = trainingProgress('pretrain');
      const result = await pretrain({ ...fromFile, ...flags } as PretrainConfigInput, progress).finally(() => progress.stop());
      process.stdout.write(`trained ${result.steps} steps in ${result.seconds.toFixed(0)} s, final loss ${result.lastLoss.toFixed(4)}\nmodel: ${result.finalDir}\n`);
    });
}
