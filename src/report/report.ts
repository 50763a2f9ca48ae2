// `dlip report`: a run folder into one self-contained HTML file. A folder with results.json is a
// demo or ablate run; one with only metrics.jsonl is a `dlip distill` run.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { parseResults, RESULTS_FILE } from '../experiment/results.js';
import { METRICS_LOG } from '../train/trainer.js';
import { distillPage } from './distill-run.js';
import { experimentPage } from './experiment.js';
import { renderPage } from './page.js';
import type { Page } from './page.js';

export const REPORT_FILE = 'report.html';

async function pageOf(dir: string): Promise<Page> {
  const resultsFile = join(dir, RESULTS_FILE);
  if (existsSync(resultsFile)) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(resultsFile, 'utf8'));
    } catch (err) {
      throw new Error(`${resultsFile}: not valid JSON (${(err as Error).message})`);
    }
    return experimentPage(dir, parseResults(json, resultsFile), resultsFile);
  }
  if (existsSync(join(dir, METRICS_LOG))) return distillPage(dir);
  if (!existsSync(dir)) throw new Error(`${dir}: no such run folder`);
  throw new Error(`${dir}: holds neither ${RESULTS_FILE} (a dlip demo or ablate run) nor ${METRICS_LOG} (a dlip distill run)`);
}

/** Renders the report of run folder `dir` into `out` (default <dir>/report.html) and returns its path. */
export async function writeReport(dir: string, out = join(dir, REPORT_FILE)): Promise<string> {
  const page = await pageOf(dir);
  await writeFileAtomic(out, renderPage(page));
  return out;
}
