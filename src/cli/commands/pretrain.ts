import type { Command } from 'commander';
import { pretrain } from '../../train/pretrain.js';
import type { PretrainConfigInput } from '../../train/pretrain.js';
import { trainedSummary, trainingProgress } from '../progress.js';
import { addTrainingOptions, mergedOptions } from '../options.js';

export function registerPretrain(program: Command): void {
  const command = program
    .command('pretrain')
    .description('pre-train a BLIP model (ITC + ITM + LM) — by default the tiny-teacher preset on the built-in world')
    .requiredOption('--out <dir>', 'run folder: checkpoints, metrics.jsonl, final/ and best/ models')
    .option('--model <preset|dir|name>', 'preset, model folder, config JSON or Hugging Face name (owner/name[@revision]) to start from (default tiny-teacher)');
  addTrainingOptions(command).action(async (opts: Record<string, unknown>) => {
    const progress = trainingProgress('pretrain');
    const result = await pretrain((await mergedOptions(opts)) as PretrainConfigInput, progress).finally(() => progress.stop());
    process.stdout.write(`${trainedSummary(result)}\nmodel: ${result.finalDir}\n`);
  });
}
