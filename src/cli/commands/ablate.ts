// `dlip ablate --grid FILE`: recipes × students × seeds from one teacher, each cell resumable.
import type { Command } from 'commander';
import { readGrid } from '../../experiment/grid.js';
import { Experiment } from '../../experiment/experiment.js';
import { runExperiment } from '../run-experiment.js';

export function registerAblate(program: Command): void {
  program
    .command('ablate')
    .description('run a grid of recipes × students × seeds distilled from one teacher; write report.html, results.csv, results.md and results.json')
    .requiredOption('--grid <file>', 'the grid, a JSON file (below)')
    .requiredOption('--out <dir>', 'run folder; rerun to resume, finished cells are skipped; cells may be added to the grid later')
    .option('--dry-run', 'list the stages with their state and estimated time; run nothing')
    .option('--results-only', 'write the results of the stages done so far (results.json/.md/.csv, report.html); run nothing')
    .addHelpText('after', `
The grid (JSON; errors name the field):
  {
    "teacher": "tiny-teacher",            pre-training model folder or shipped model (required)
    "students": ["tiny-student"],          presets, config JSON files or model folders
    "recipes": ["dlip-default", "no-kd"],  shipped recipes (dlip recipes) or recipe files
    "baseline": "no-kd",                   the recipe KD's gain is measured against (one of recipes)
    "seeds": [0, 1, 2],
    "world": "small",                      built-in world (tiny, small, large), or "data": "dataset.json"
    "tasks": ["retrieval", "caption", "vqa"],
    "steps": 600, "vqaSteps": 200,         distillation steps of each cell; VQA steps of every model
    "teacherVqaSteps": 600,                the teacher's VQA fine-tuning steps (default vqaSteps)
    "vqaKd": true,                         false: KD cells fine-tune their VQA model alone, as the baseline does
    "batchSize": 32, "lr": 0.001, "warmupSteps": 50, "vqaLr": 0.0005, "vqaWarmupSteps": 20,
    "checkpointEvery": 100, "evalImages": 100, "limit": 300,
    "latency": {"repeats": 3, "warmup": 1, "warmupMs": 500, "gallery": 64, "k": 16, "captionLength": 20},
    "examples": 4                          test images shown per model in the report
  }
Only "teacher", "steps" and "vqaSteps" are required. Every cell distils its student during pre-training
with its recipe, is scored on the test split, then distils its VQA model from the teacher's (fine-tuned
once) with the same recipe. Changing a shared setting of an existing run folder is refused.
With several seeds, results.md adds each recipe's mean ± standard deviation over seeds and its gain
over the baseline paired by seed, and checks DLIP's targets (≥ 95% kept, ≥ 2.7x faster, ≤ 25% of the
teacher's parameters and FLOPs).
To use more cores, give each process a grid that lists one seed, with the same --out (cells may be
added to a folder; its shared settings may not change), and start the others once the first has done
the teacher's stages; --results-only with the whole grid then writes the results of all of them.`)
    .action(async (flags: { grid: string; out: string; dryRun?: boolean; resultsOnly?: boolean }) => {
      const grid = readGrid(flags.grid);
      const experiment = await Experiment.plan({
        kind: 'ablate', grid, out: flags.out, command: ['dlip', ...process.argv.slice(2)],
        onDataBuild: (what) => process.stderr.write(`preparing ${what} (generated once, then cached)\n`),
      });
      if (flags.dryRun && flags.resultsOnly) throw new Error('give --dry-run or --results-only, not both');
      await runExperiment(experiment, flags);
    });
}
