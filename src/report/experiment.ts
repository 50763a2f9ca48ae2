// The report of a `dlip demo` or `dlip ablate` run (results.json): the decision figures, the teacher
// against its students per task, quality against size and latency, the training curves, examples and
// what made the run. Every derived figure comes from experiment/results.ts, as the printed summary's.
import { isAbsolute, join } from 'node:path';
import { decisions, HEADLINE, headline, SECONDARY, speedups, TASKS } from '../experiment/results.js';
import { overSeeds, targetChecks } from '../experiment/seeds.js';
import type { Spread } from '../experiment/seeds.js';
import type { ModelEntry, Results, Task } from '../experiment/results.js';
import { ChartSet, lossChart, qualityChart, TASK_WORKLOAD, validationChart } from './charts.js';
import { examplesSection } from './examples.js';
import { count, ms, percent, ratio, score, shellLine, signed } from './format.js';
import { html } from './html.js';
import type { Html } from './html.js';
import { readMetricsLog } from './metrics-log.js';
import type { Page } from './page.js';

const tasksOf = (results: Results): Task[] => TASKS.filter((t) => [results.teacher, ...results.students].some((e) => e.scores[t] !== undefined));

function decisionSection(results: Results): Html {
  const blocks = results.students.map((s) => {
    const rows = decisions(results, s).map((d) => html`<tr><td>${d.task}</td><td>${HEADLINE[d.task].label}</td><td class="num">${score(d.teacher)}</td><td class="num">${score(d.student)}</td><td class="num">${percent(d.retained)}</td><td class="num ${d.kdGain === undefined ? '' : d.kdGain >= 0 ? 'good' : 'bad'}">${signed(d.kdGain)}</td><td class="num">${ratio(d.sizeRatio)}</td><td class="num">${ratio(d.flopsRatio)}</td></tr>`);
    const speed = speedups(results, s);
    return html`<h3>${s.name}</h3>
<table><tr><th>task</th><th>headline metric</th><th class="num">teacher</th><th class="num">student</th><th class="num">retained</th><th class="num">KD gain over ${results.baseline}</th><th class="num">smaller ×</th><th class="num">fewer FLOPs ×</th></tr>${rows}</table>
${speed.length ? html`<table><tr><th>workload</th><th class="num">faster ×, batch 1</th><th class="num">faster ×, batch 32</th></tr>${speed.map((w) => html`<tr><td>${w.workload}</td><td class="num">${ratio(w.batch1)}</td><td class="num">${ratio(w.batch32)}</td></tr>`)}</table>` : ''}`;
  });
  return html`<h2>Decision figures</h2>
<p class="legend">Retained: the student's headline score over the teacher's. KD gain: the student's headline score minus that of the ${results.baseline} student with the same student and seed (points). Size, FLOPs and speed: the teacher's over the student's, on ${results.backend}.</p>
${blocks}`;
}

const spreadCell = (s: Spread | undefined): Html =>
  s === undefined ? html`<td class="num">—</td>` : html`<td class="num">${score(s.mean)}${s.std === undefined ? '' : html` ± ${score(s.std)} <span class="legend">(${score(s.min)}–${score(s.max)}, n=${s.n})</span>`}</td>`;

/** Each KD recipe against the baseline over seeds (when some cell ran several), then DLIP's targets. */
function seedsSection(results: Results): Html {
  const groups = overSeeds(results);
  const tables = groups.some((g) => g.metrics.some((m) => m.spread.n > 1))
    ? groups.filter((g) => !g.baseline && g.metrics.length).map((g) => {
      const base = groups.find((x) => x.baseline && x.student === g.student);
      const rows = g.metrics.map((m) => {
        const b = base?.metrics.find((x) => x.task === m.task && x.key === m.key);
        const label = m.headline ? HEADLINE[m.task].label : SECONDARY[m.task].find((x) => x.key === m.key)!.label;
        return html`<tr><td>${m.task}</td><td>${label}</td><td class="num">${score(results.teacher.scores[m.task]?.[m.key])}</td>${spreadCell(m.spread)}${spreadCell(b?.spread)}<td class="num ${m.gain === undefined ? '' : m.gain.mean >= 0 ? 'good' : 'bad'}">${signed(m.gain?.mean)}</td><td class="num">${m.gain ? `${m.gain.wins}/${m.gain.seeds}` : '—'}</td><td class="num">${percent(m.retained)}</td></tr>`;
      });
      return html`<h3>${g.recipe} against ${results.baseline} (${g.student}, seeds ${g.seeds.join(', ')})</h3>
<table><tr><th>task</th><th>metric</th><th class="num">teacher</th><th class="num">${g.recipe}</th><th class="num">${results.baseline}</th><th class="num">gain</th><th class="num">seeds higher</th><th class="num">retained</th></tr>${rows}</table>`;
    })
    : [];
  const checks = targetChecks(results, groups);
  if (!tables.length && !checks.length) return html``;
  return html`${tables.length ? html`<h2>Over seeds</h2><p class="legend">Mean ± sample standard deviation over seeds (min–max). Gain: the mean of the per-seed differences over the seeds both recipes ran.</p>${tables}` : ''}
${checks.length ? html`<h2>DLIP's targets</h2><p class="legend">Kuang et al. 2023: a student with about a quarter of the teacher's size keeps over 95% of its quality and runs 2.7x faster. Undecided while a seed is missing.</p>
<table><tr><th>student</th><th>target</th><th>met</th><th>measured</th></tr>${checks.map((c) => html`<tr><td>${c.group}</td><td>${c.claim}</td><td class="${c.met === undefined ? '' : c.met ? 'good' : 'bad'}">${c.met === undefined ? 'not decided' : c.met ? 'yes' : 'no'}</td><td class="num">${c.measured}</td></tr>`)}</table>` : ''}`;
}

function taskTable(results: Results, task: Task): Html {
  const entries = [results.teacher, ...results.students].filter((e) => e.scores[task] !== undefined);
  const key = HEADLINE[task].key;
  const metrics = [key, ...new Set(entries.flatMap((e) => Object.keys(e.scores[task]!)).filter((k) => k !== key))];
  const byName = new Map(results.students.map((s) => [s.name, decisions(results, s).find((d) => d.task === task)]));
  const workload = TASK_WORKLOAD[task];
  const row = (e: ModelEntry) => {
    const d = byName.get(e.name);
    const isTeacher = e === results.teacher;
    return html`<tr class="${isTeacher ? 'teacher' : ''}"><td>${e.name}</td>${metrics.map((m) => html`<td class="num${m === key ? ' headline' : ''}">${score(e.scores[task]![m])}</td>`)}<td class="num">${isTeacher ? '100.0%' : percent(d?.retained)}</td><td class="num">${isTeacher ? '' : signed(d?.kdGain)}</td><td class="num">${count(e.cost[task]?.parameters)}</td><td class="num">${count(e.cost[task]?.flops)}</td><td class="num">${ms(e.latency?.[workload]?.batch1Ms)}</td><td class="num">${ms(e.latency?.[workload]?.batch32Ms)}</td></tr>`;
  };
  return html`<h3>${task}</h3>
<table><tr><th>model</th>${metrics.map((m) => html`<th class="num${m === key ? ' headline' : ''}">${m}</th>`)}<th class="num">retained</th><th class="num">KD gain</th><th class="num">parameters</th><th class="num">FLOPs</th><th class="num">${workload} ms, batch 1</th><th class="num">batch 32</th></tr>
${entries.map(row)}</table>`;
}

async function curves(dir: string, results: Results, charts: ChartSet): Promise<Html> {
  const blocks: Html[] = [];
  for (const entry of [results.teacher, ...results.students]) {
    for (const run of entry.metrics) {
      const log = await readMetricsLog(isAbsolute(run.file) ? run.file : join(dir, run.file));
      const title = `${entry.name}: ${run.label}`;
      const validation = validationChart(log, `${title}, validation`);
      blocks.push(html`<h3>${title}</h3><div class="charts">${charts.add(lossChart(log, `${title}, loss terms`))}${validation ? charts.add(validation) : html`<p class="legend">no validation logged</p>`}</div>`);
    }
  }
  return blocks.length ? html`<h2>Training</h2>${blocks}` : html``;
}

function provenance(results: Results): Html {
  const models = [results.teacher, ...results.students].flatMap((e) => Object.entries(e.sha256).map(([folder, sha]) => html`<tr><td>${e.name}</td><td><code>${folder}</code></td><td><code>${sha}</code></td></tr>`));
  return html`<h2>How this run was made</h2>
<h3>Command</h3><pre>${shellLine(results.command)}</pre>
<h3>Versions</h3><table>${Object.entries({ ...results.versions, backend: results.backend }).map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}</table>
<h3>Models</h3><table><tr><th>model</th><th>folder</th><th>sha256 of the weights</th></tr>${models}</table>
<h3>Recipes</h3>${Object.entries(results.recipes).map(([name, recipe]) => html`<h4>${name}${name === results.baseline ? ' (the no-KD baseline)' : ''}</h4><pre>${JSON.stringify(recipe, null, 2)}</pre>`)}`;
}

export async function experimentPage(dir: string, results: Results, file: string): Promise<Page> {
  const charts = new ChartSet();
  const tasks = tasksOf(results);
  const quality = tasks.flatMap((t) => [qualityChart(results, t, 'parameters'), qualityChart(results, t, 'latency')].flatMap((c) => (c ? [charts.add(c)] : [])));
  const sections = [
    decisionSection(results),
    seedsSection(results),
    html`<h2>Teacher and students per task</h2>${tasks.map((t) => taskTable(results, t))}`,
    quality.length ? html`<h2>Quality against size and speed</h2><p class="legend">One point per model; the teacher is the dark diamond. Horizontal axes are logarithmic.</p><div class="charts">${quality}</div>` : html``,
    await curves(dir, results, charts),
    (await examplesSection(dir, results, file)) ?? html``,
    provenance(results),
  ];
  const data = `${results.data.name}, ${results.data.split} split${results.data.limit ? ` (first ${results.data.limit})` : ''}`;
  const teacherScores = tasks.map((t) => `${t} ${score(headline(results.teacher, t))}`).join(', ');
  return {
    title: `dlip ${results.kind}: ${results.students.length} student${results.students.length === 1 ? '' : 's'} of ${results.teacher.name}`,
    meta: [`${results.created} · data: ${data} · backend: ${results.backend}`, `teacher (${results.teacher.name}): ${teacherScores}`],
    sections,
    charts: charts.specs,
  };
}
