import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { distill } from '../../distill/distill.js';
import type { DistillConfigInput } from '../../distill/distill.js';
import type { InheritSpec } from '../../distill/inherit.js';
import { listRecipes } from '../../distill/recipe.js';
import { recordDistillRun } from '../../distill/run-record.js';
import type { TargetsReport } from '../../distill/targets.js';
import { DISTILL_TASKS } from '../../distill/tasks.js';
import { progressBar, trainedSummary, trainingProgress } from '../progress.js';
import { addTrainingOptions, mergedOptions, positiveInt } from '../options.js';

function parseTask(value: string): string {
  if (!(DISTILL_TASKS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${DISTILL_TASKS.join(', ')}, got "${value}"`);
  return value;
}

/** `--inherit uniform|last`: one layer map for both towers (a config file can give one per tower). */
function parseInherit(value: string): InheritSpec {
  if (value !== 'uniform' && value !== 'last') throw new InvalidArgumentError(`expected uniform or last, got "${value}" (per-tower or explicit maps go in the config file's "inherit")`);
  return { vision: value, text: value };
}

export function registerDistill(program: Command): void {
  const command = program
    .command('distill')
    .description('distil a frozen teacher into a smaller student of the same topology: the student\'s task terms plus a recipe\'s KD terms, on the pre-training composite (--task pretrain) or into a task model exported to <out>/model')
    .requiredOption('--teacher <dir|name>', 'the frozen teacher: a shipped model (tiny-teacher), a model folder (pretrain: a pre-training checkpoint, e.g. the final/ of dlip pretrain; a task: that task\'s model, e.g. <run>/model of dlip finetune, or a pre-training checkpoint) or Hugging Face name (owner/name[@revision])')
    .option('--student <preset|dir|config>', 'the student: a preset or config JSON (random init) or a model folder to start from (default tiny-student)')
    .option('--inherit <uniform|last>', 'start the student\'s vision and text layers as copies of teacher layers (uniform: every k-th; last: the last layer only), with the embeddings and heads of matching shapes; needs a preset or config student of the teacher\'s widths', parseInherit)
    .option('--recipe <name|file>', `which KD terms, with which options: a recipe file or one of ${listRecipes().join(', ')} (default dlip-default); terms the task's model lacks are dropped with a warning`)
    .option('--task <task>', `${DISTILL_TASKS.join(', ')}: stage distillation of the pre-training composite (ITC + ITM + LM), or task-adaptive distillation into a retriever (ITC + ITM), captioner (LM after the prompt) or VQA model (answer loss + answer KD) (default pretrain)`, parseTask)
    .option('--gate', 'samples the teacher gets wrong teach through the task loss only (its ITM says no to the true pair; its VQA answer is wrong); the count is logged as "gated"; not for caption')
    .option('--prompt <text>', 'captioning prompt, not predicted (--task caption: default "a picture of ")')
    .option('--teacher-cache <dir>', "keep the teacher's targets (features, top-k LM logits, mapped hidden states and attention maps of every training pair, unflipped and flipped) under <dir>/<key>/, built once before training and reused by every run with the same teacher weights, data, preprocessing and recipe; ITM's fused pass still runs live on the student's pairs. Default: on, under $DLIP_CACHE/teacher (else ~/.cache/dlip/teacher), when the run reads every training pair at least once; otherwise the teacher runs live, since the cache would hold pairs the run never reads")
    .option('--no-teacher-cache', 'run the whole teacher forward live at every step instead of reading cached targets')
    .option('--teacher-top-k <k>', 'LM logits cached per token; the rest of the vocabulary shares the remaining probability evenly (default 64)', positiveInt)
    .requiredOption('--out <dir>', 'run folder: run.json (the command, options and recipe), checkpoints (with the adaptors), metrics.jsonl (task terms, kd_<term>, gated), final/ and best/ students, and for a task the exported model/');
  addTrainingOptions(command).action(async (opts: Record<string, unknown>) => {
    const progress = trainingProgress('distill');
    const onTeacherScore = (metrics: Record<string, number>) =>
      process.stderr.write(`teacher on the val split: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`);
    const building = progressBar('teacher targets');
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    const onTeacherTargets = (r: TargetsReport) => {
      building.stop();
      if (r.savedSecondsPerEpoch === undefined) {
        const how = r.reused ? 'reused' : `built in ${r.buildSeconds.toFixed(1)} s`;
        process.stderr.write(`teacher targets ${how}: ${r.dir} (${r.pairs} pairs × ${r.views.join('/')} views, ${kib(r.bytesPerPair)} per pair; the live teacher would take ~${r.liveTeacherSecondsPerEpoch.toFixed(1)} s per epoch)\n`);
      } else {
        process.stderr.write(`teacher targets: read ${r.readSecondsPerEpoch!.toFixed(2)} s per epoch, ~${r.savedSecondsPerEpoch.toFixed(1)} s of teacher time saved per epoch\n`);
      }
    };
    const hooks = { ...progress, onTeacherScore, onTeacherTargets, onTeacherTargetsProgress: building.update };
    const options = (await mergedOptions(opts)) as DistillConfigInput;
    await recordDistillRun(options, ['dlip', ...process.argv.slice(2)]);
    const result = await distill(options, hooks).finally(() => {
      building.stop();
      progress.stop();
    });
    process.stdout.write(`${trainedSummary(result)}\nmodel: ${result.modelDir ?? result.finalDir}\n`);
  });
}
