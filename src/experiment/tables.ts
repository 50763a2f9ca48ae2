// results.json as people read it: results.md (tables), results.csv (one row per model and task, for
// spreadsheets) and the summary `dlip demo` and `dlip ablate` print, ending in the decision figures.
// Every derived figure comes from results.ts (decisions, speedups), so the tables and the report agree.
import { stringify } from 'csv-stringify/sync';
import { decisions, HEADLINE, SECONDARY, speedups, TASKS, WORKLOADS } from './results.js';
import type { ModelEntry, Results, Task, Workload } from './results.js';
import { overSeeds, targetChecks } from './seeds.js';
import type { Spread } from './seeds.js';

const TASK_WORKLOAD: Record<Task, Workload> = { retrieval: 'retrieval', caption: 'caption', vqa: 'vqa' };
const SHORT: Record<Task, string> = { retrieval: 'R@1', caption: 'CIDEr', vqa: 'VQA' };

const fixed = (x: number | undefined, digits = 2) => (x === undefined ? '–' : x.toFixed(digits));
const percent = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(0)}%`);
const percent1 = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(1)}%`);
const signed = (x: number | undefined) => (x === undefined ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`);
const times = (x: number | undefined) => (x === undefined ? '–' : `${x.toFixed(1)}x`);
const millions = (n: number | undefined) => (n === undefined ? '–' : `${(n / 1e6).toFixed(2)}M`);
const gflops = (n: number | undefined) => (n === undefined ? '–' : (n / 1e9).toFixed(3));

function markdownTable(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

const models = (results: Results): ModelEntry[] => [results.teacher, ...results.students];

/** Tasks with a score for some model. */
const scoredTasks = (results: Results): Task[] => TASKS.filter((t) => models(results).some((m) => m.scores[t]));

/** One row per model and task: cost, latency of the task's workload, every metric, retained and KD gain. */
export function resultsCsv(results: Results): string {
  const allKeys = [...new Set(TASKS.flatMap((t) => models(results).flatMap((m) => Object.keys(m.scores[t] ?? {})).sort()))];
  const rows: (string | number | undefined)[][] = [];
  for (const m of models(results)) {
    const byTask = new Map(decisions(results, m).map((d) => [d.task, d]));
    for (const task of scoredTasks(results)) {
      if (!m.scores[task]) continue;
      const d = byTask.get(task);
      const latency = m.latency?.[TASK_WORKLOAD[task]];
      rows.push([
        m.name, m.role, m.recipe, m.student, m.seed, task, m.cost[task]?.parameters, m.cost[task]?.flops, latency?.batch1Ms, latency?.batch32Ms,
        ...allKeys.map((k) => m.scores[task]?.[k]), HEADLINE[task].key, d?.student,
        m.role === 'teacher' ? undefined : d?.retained, m.role === 'teacher' ? undefined : d?.kdGain,
      ]);
    }
  }
  return stringify(rows, {
    header: true,
    columns: ['model', 'role', 'recipe', 'student', 'seed', 'task', 'parameters', 'flops', 'latency_batch1_ms', 'latency_batch32_ms', ...allKeys, 'headline_metric', 'headline', 'retained', 'kd_gain'],
  });
}

/** results.md: quality per task, cost, speed, and the decision figures. */
export function resultsMarkdown(results: Results): string {
  const tasks = scoredTasks(results);
  const lines: string[] = [];
  lines.push(`Test split of ${results.data.name}${results.data.limit ? ` (first ${results.data.limit} images / questions)` : ''}, backend ${results.backend}.`, '');
  lines.push(...markdownTable(
    ['model', ...tasks.map((t) => SHORT[t]), ...tasks.map((t) => `kept ${SHORT[t]}`), ...tasks.map((t) => `KD gain ${SHORT[t]}`)],
    models(results).map((m) => {
      const d = new Map(decisions(results, m).map((x) => [x.task, x]));
      const student = m.role === 'student';
      return [
        m.name,
        ...tasks.map((t) => fixed(d.get(t)?.student)),
        ...tasks.map((t) => (student ? percent(d.get(t)?.retained) : '')),
        ...tasks.map((t) => (student ? signed(d.get(t)?.kdGain) : '')),
      ];
    }),
  ));
  lines.push('', `Headlines: ${tasks.map((t) => `${SHORT[t]} = ${HEADLINE[t].label}`).join('; ')}. "kept" is student / teacher; "KD gain" is the student minus the ${results.baseline} student of the same size and seed.`, '');
  lines.push(...markdownTable(
    ['model', ...tasks.flatMap((t) => [`${t} params`, `${t} GFLOPs`])],
    models(results).map((m) => [m.name, ...tasks.flatMap((t) => [millions(m.cost[t]?.parameters), gflops(m.cost[t]?.flops)])]),
  ));
  const timed = models(results).filter((m) => m.latency);
  if (timed.length) {
    const workloads = WORKLOADS.filter((w) => timed.some((m) => m.latency?.[w]));
    lines.push('', 'Median latency in ms (batch 1 / batch 32), random weights of each model\'s config:', '');
    lines.push(...markdownTable(['model', ...workloads], timed.map((m) => [m.name, ...workloads.map((w) => (m.latency?.[w] ? `${fixed(m.latency[w]!.batch1Ms, 1)} / ${fixed(m.latency[w]!.batch32Ms, 1)}` : '–'))])));
  }
  lines.push('', '## Decision figures', '', ...decisionSummary(results));
  lines.push(...seedsMarkdown(results));
  return `${lines.join('\n')}\n`;
}

/** "mean ± std (min–max, n=3)", the std being the sample standard deviation over seeds; "x (1 seed)". */
export function formatSpread(s: Spread | undefined): string {
  if (!s) return '–';
  if (s.n === 1) return `${s.mean.toFixed(2)} (1 seed)`;
  return `${s.mean.toFixed(2)} ± ${s.std!.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)}, n=${s.n})`;
}

/**
 * Over seeds (when some cell ran more than one): each KD recipe against the baseline on the same
 * student, as means with their spread and gains paired by seed. Then DLIP's targets against them.
 */
export function seedsMarkdown(results: Results): string[] {
  const groups = overSeeds(results);
  const lines: string[] = [];
  if (groups.some((g) => g.metrics.some((m) => m.spread.n > 1))) {
    lines.push('', '## Over seeds', '', 'Mean ± sample standard deviation over seeds (min–max); the gain is the mean of the per-seed differences over the seeds both ran.');
    for (const g of groups.filter((x) => !x.baseline && x.metrics.length)) {
      const base = groups.find((x) => x.baseline && x.student === g.student);
      lines.push('', `### ${g.recipe} against ${results.baseline} (${g.student}, seeds ${g.seeds.join(', ')})`, '');
      lines.push(...markdownTable(
        ['metric', 'teacher', g.recipe, results.baseline, 'gain', 'seeds higher', `kept (${g.recipe} / ${results.baseline})`],
        g.metrics.map((m) => {
          const b = base?.metrics.find((x) => x.task === m.task && x.key === m.key);
          const label = m.headline ? SHORT[m.task] : SECONDARY[m.task].find((x) => x.key === m.key)!.label;
          return [
            label, fixed(results.teacher.scores[m.task]?.[m.key]), formatSpread(m.spread), formatSpread(b?.spread),
            signed(m.gain?.mean), m.gain ? `${m.gain.wins}/${m.gain.seeds}` : '–', `${percent1(m.retained)} / ${percent1(b?.retained)}`,
          ];
        }),
      ));
    }
  }
  const checks = targetChecks(results, groups);
  if (checks.length) {
    lines.push('', "## DLIP's targets", '', "Kuang et al. 2023: a student with about a quarter of the teacher's size keeps over 95% of its quality and runs 2.7x faster.", '');
    lines.push(...markdownTable(['student', 'target', 'met', 'measured'], checks.map((c) => [c.group, c.claim, c.met === undefined ? 'not decided' : c.met ? 'yes' : '**no**', c.measured])));
  }
  return lines;
}

/** One paragraph per student that is not the baseline: how much smaller, faster, what it keeps, what KD added. */
export function decisionSummary(results: Results): string[] {
  const lines: string[] = [];
  const shown = results.students.filter((s) => s.recipe !== results.baseline);
  for (const s of shown.length ? shown : results.students) {
    const d = decisions(results, s);
    if (!d.length) {
      lines.push(`- ${s.name}: not scored yet.`);
      continue;
    }
    const size = d.find((x) => x.sizeRatio !== undefined);
    const speed = speedups(results, s);
    const speedText = speed.length ? speed.map((x) => `${x.workload} ${times(x.batch1)} / ${times(x.batch32)}`).join(', ') : 'not measured';
    lines.push(
      `- **${s.name}**: ${size ? `${times(size.sizeRatio)} fewer parameters and ${times(size.flopsRatio)} fewer FLOPs than the teacher (${size.task} model)` : 'cost unknown'};`,
      `  faster than the teacher (batch 1 / 32): ${speedText};`,
      `  keeps ${d.map((x) => `${percent(x.retained)} of ${SHORT[x.task]} (${fixed(x.student)} vs ${fixed(x.teacher)})`).join(', ')};`,
      `  KD's gain over ${results.baseline}: ${d.map((x) => `${signed(x.kdGain)} ${SHORT[x.task]}`).join(', ')}.`,
    );
  }
  return lines;
}
