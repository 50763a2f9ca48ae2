import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { writeReport } from '../../report/report.js';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write one self-contained HTML report of a run folder (dlip demo, ablate or distill): teacher against students per task with the decision figures, loss and validation curves, quality against size and latency, examples with each model\'s errors marked, and the recipes, command, versions and model sha256; it opens offline and makes no request')
    .argument('<run-dir>', 'the run folder (holding results.json, or a distill run\'s metrics.jsonl)')
    .option('--out <file>', 'where to write the HTML (default <run-dir>/report.html)')
    .action(async (dir: string, opts: { out?: string }) => {
      const out = await writeReport(dir, opts.out);
      process.stdout.write(`report: ${out} (${(statSync(out).size / 1024).toFixed(0)} KiB)\n`);
    });
}
