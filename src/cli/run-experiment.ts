// What `dlip demo` and `dlip ablate` do with a planned experiment: list its stages (--dry-run), or run
// what is not done, write results.json/.md/.csv and the report, and print the tables.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { Experiment } from '../experiment/experiment.js';
import { describeEstimate } from '../experiment/stages.js';
import { resultsCsv, resultsMarkdown } from '../experiment/tables.js';
import { writeReport } from '../report/report.js';
import { stageProgress } from './stage-progress.js';

/** `dryRun`: list the stages only; `resultsOnly`: write the results of the stages done so far, running none. */
export async function runExperiment(experiment: Experiment, mode: { dryRun?: boolean; resultsOnly?: boolean }): Promise<void> {
  const { runner, out } = experiment;
  if (mode.dryRun) {
    process.stdout.write(`${runner.stages.length} stages in ${out}, in the order they run:\n${runner.describe().join('\n')}\ntime left: ${describeEstimate(runner.remaining(-1))}\n`);
    return;
  }
  if (!mode.resultsOnly) await experiment.run(stageProgress());
  else if (!existsSync(out)) throw new Error(`--results-only: ${out} does not exist; nothing has run there`);
  const results = await experiment.writeResults();
  const markdown = resultsMarkdown(results);
  await writeFileAtomic(join(out, 'results.md'), markdown);
  await writeFileAtomic(join(out, 'results.csv'), resultsCsv(results));
  const report = await writeReport(out);
  process.stdout.write(`\n${markdown}`);
  process.stderr.write(`\nwritten: ${join(out, 'results.json')}, results.md, results.csv, and the report ${report}\n`);
}
