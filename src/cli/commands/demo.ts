// `dlip demo`: the README's first command — the whole distillation path on the built-in world.
import type { Command } from 'commander';
import { demoGrid, DEMO_PRIORS } from '../../experiment/demo.js';
import { Experiment } from '../../experiment/experiment.js';
import { positiveNum } from '../options.js';
import { runExperiment } from '../run-experiment.js';

interface DemoFlags {
  out: string;
  quick?: boolean;
  budget: number;
  dryRun?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('distil tiny-student from the shipped teacher on the built-in world, train it without KD too, score all three per task, measure cost and latency, and print the decision figures')
    .option('--out <dir>', 'run folder; rerun the same command to resume after an interruption', 'dlip-demo')
    .option('--quick', 'the same stages on the tiny world with a few steps (a couple of minutes; for CI): the figures mean nothing')
    .option('--budget <x>', "scale the students' training steps (1 = about half an hour on 2 cores; 2 = twice the steps)", positiveNum, 1)
    .option('--dry-run', 'list the stages with their state and estimated time; run nothing')
    .addHelpText('after', `
Stages: build the built-in world (first run only), score the teacher (retrieval, captioning), fine-tune
it for VQA, then for dlip-default and no-kd: distil tiny-student for the same steps on the same data,
score it, distil its VQA model from the teacher's, score that; last, latency at batch 1 and 32.
Output folder: report.html (open it in a browser), results.json, results.md, results.csv, the training runs.`)
    .action(async (flags: DemoFlags) => {
      const grid = demoGrid({ quick: flags.quick, budget: flags.budget });
      const experiment = await Experiment.plan({
        kind: 'demo', grid, out: flags.out, command: ['dlip', ...process.argv.slice(2)], priors: DEMO_PRIORS,
        onDataBuild: (what) => process.stderr.write(`preparing ${what} (generated once, then cached)\n`),
      });
      await runExperiment(experiment, { dryRun: flags.dryRun });
      if (flags.quick && !flags.dryRun) process.stderr.write('--quick trains a few steps on the tiny world: the stages all ran, but the figures above mean nothing.\n');
    });
}
