// The report of a `dlip distill` run folder (no results.json): its loss terms and validation over the
// steps, the teacher's validation score beside the student's, the sha256 of each model it wrote, and
// the command, options and recipe of run.json.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { readRunRecord, RUN_RECORD_FILE } from '../distill/run-record.js';
import type { RunRecord } from '../distill/run-record.js';
import { TEACHER_SCORE_FILE } from '../distill/teacher-score.js';
import { readManifest } from '../io/checkpoint.js';
import { BEST_DIR, FINAL_DIR, METRICS_LOG } from '../train/trainer.js';
import { ChartSet, lossChart, validationChart } from './charts.js';
import { count, percent, ratio, score, shellLine } from './format.js';
import { html } from './html.js';
import type { Html } from './html.js';
import { readMetricsLog } from './metrics-log.js';
import type { MetricsLog } from './metrics-log.js';
import type { Page } from './page.js';

const TeacherScoreSchema = z.object({
  split: z.string(),
  imageLimit: z.number(),
  teacher: z.string(),
  student: z.string(),
  metrics: z.record(z.string(), z.number()),
  parameters: z.object({ teacher: z.number(), student: z.number() }),
});
type TeacherScore = z.infer<typeof TeacherScoreSchema>;

async function readJson<T>(file: string, schema: z.ZodType<T>): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The folders a distill run exports: the task model (task runs), the best and the final student. */
const MODEL_DIRS = ['model', BEST_DIR, FINAL_DIR];

function scoreTable(log: MetricsLog, teacher: TeacherScore | undefined): Html {
  const last = log.evals.at(-1);
  const metrics = [...new Set([...Object.keys(teacher?.metrics ?? {}), ...log.evals.flatMap((e) => Object.keys(e.metrics))])];
  if (metrics.length === 0) return html`<p class="legend">No validation was logged and the teacher was not scored.</p>`;
  // Each metric's own best validation: the run does not record which metric picked best/.
  const best = (m: string) => log.evals.reduce<{ step: number; value: number } | undefined>((b, e) => (e.metrics[m] !== undefined && (!b || e.metrics[m]! > b.value) ? { step: e.step, value: e.metrics[m]! } : b), undefined);
  const kept = (m: string) => (teacher?.metrics[m] && last?.metrics[m] !== undefined ? last.metrics[m]! / teacher.metrics[m]! : undefined);
  return html`<table><tr><th>metric</th><th class="num">teacher</th><th class="num">${last ? `student, last (step ${last.step})` : 'student, last'}</th><th class="num">retained</th><th class="num">student, best (step)</th></tr>
${metrics.map((m) => {
    const b = best(m);
    return html`<tr><td>${m}</td><td class="num">${score(teacher?.metrics[m])}</td><td class="num">${score(last?.metrics[m])}</td><td class="num">${percent(kept(m))}</td><td class="num">${b ? `${score(b.value)} (${b.step})` : '—'}</td></tr>`;
  })}</table>`;
}

async function modelsTable(dir: string): Promise<Html> {
  const rows: Html[] = [];
  for (const name of MODEL_DIRS) {
    const manifest = await readManifest(join(dir, name));
    if (manifest) rows.push(html`<tr><td><code>${name}/</code></td><td>${manifest.architecture}</td><td class="num">${count(manifest.parameters)}</td><td>${manifest.version}</td><td><code>${manifest.sha256}</code></td></tr>`);
  }
  if (rows.length === 0) return html`<p class="legend">No exported model yet (the run has not finished).</p>`;
  return html`<table><tr><th>folder</th><th>architecture</th><th class="num">parameters</th><th>dlip</th><th>sha256 of the weights</th></tr>${rows}</table>`;
}

function provenance(record: RunRecord | undefined): Html {
  if (!record) return html`<h2>How this run was made</h2><p class="legend">Not recorded: the folder has no ${RUN_RECORD_FILE} (the <code>dlip distill</code> command writes it; a run started from the library does not).</p>`;
  return html`<h2>How this run was made</h2>
<h3>Command</h3><pre>${shellLine(record.command)}</pre>
<h3>Recipe</h3><p class="meta">${record.recipe.source}</p><pre>${JSON.stringify(record.recipe.value, null, 2)}</pre>
<h3>Options</h3><pre>${JSON.stringify(record.options, null, 2)}</pre>`;
}

export async function distillPage(dir: string): Promise<Page> {
  const logFile = join(dir, METRICS_LOG);
  const log = await readMetricsLog(logFile);
  const teacher = await readJson(join(dir, TEACHER_SCORE_FILE), TeacherScoreSchema);
  const charts = new ChartSet();
  const validation = validationChart(log, 'validation');
  const lastStep = log.steps.at(-1)?.step ?? 0;
  const sections: Html[] = [
    html`<h2>Teacher and student on the ${teacher?.split ?? 'val'} split</h2>
${teacher ? html`<p class="meta">teacher ${teacher.teacher}: ${count(teacher.parameters.teacher)} parameters; student ${teacher.student}: ${count(teacher.parameters.student)} (${ratio(teacher.parameters.teacher / teacher.parameters.student)} smaller); ${teacher.imageLimit} validation images</p>` : html`<p class="legend">The teacher was not scored (no ${TEACHER_SCORE_FILE}).</p>`}
${scoreTable(log, teacher)}`,
    html`<h2>Training</h2><div class="charts">${log.steps.length ? charts.add(lossChart(log, 'loss terms')) : html`<p class="legend">no step logged yet</p>`}${validation ? charts.add(validation) : html`<p class="legend">no validation logged</p>`}</div>`,
    html`<h2>Models</h2>${await modelsTable(dir)}`,
    provenance(await readRunRecord(dir)),
  ];
  return {
    title: teacher ? `dlip distill: ${teacher.student} from ${teacher.teacher}` : `dlip distill: ${dir}`,
    meta: [`run folder ${dir} · ${lastStep} steps logged · final loss ${log.steps.at(-1)?.loss.toPrecision(4) ?? '—'}`],
    sections,
    charts: charts.specs,
  };
}
