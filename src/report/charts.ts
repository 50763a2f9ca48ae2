// The report's charts as plain data: the page embeds them as JSON and its script (assets/report/
// report.js) hands each to Chart.js. Colours are fixed here so that the browser test can look for each
// series' own pixels on its canvas.
import { HEADLINE, WORKLOADS } from '../experiment/results.js';
import type { ModelEntry, Results, Task } from '../experiment/results.js';
import { html } from './html.js';
import type { Html } from './html.js';
import type { MetricsLog } from './metrics-log.js';

export interface ChartPoint {
  x: number;
  y: number;
  /** Drawn beside the point (scatter charts: the model's name). */
  name?: string;
}

export interface ChartSeries {
  label: string;
  color: string;
  points: ChartPoint[];
  /** The teacher's point: a larger diamond. */
  teacher?: boolean;
}

export interface ChartSpec {
  kind: 'line' | 'scatter';
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  series: ChartSeries[];
}

/** Opaque, distinct colours (Tableau 10), in the order series take them. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const TEACHER_COLOR = '#222222';

/** The charts of one page; `add` returns the figure that shows a chart where it is placed. */
export class ChartSet {
  readonly specs: ChartSpec[] = [];

  add(spec: ChartSpec): Html {
    const index = this.specs.push(spec) - 1;
    return html`<figure class="chart"><canvas id="chart-${index}" width="560" height="320" aria-label="${spec.title}"></canvas></figure>`;
  }
}

/** The total loss and each named term over the logged steps. */
export function lossChart(log: MetricsLog, title: string): ChartSpec {
  const terms = [...new Set(log.steps.flatMap((s) => Object.keys(s.terms)))];
  const series: ChartSeries[] = [{ label: 'loss (weighted total)', color: PALETTE[0]!, points: log.steps.map((s) => ({ x: s.step, y: s.loss })) }];
  terms.forEach((term, i) => {
    const points = log.steps.flatMap((s) => (s.terms[term] === undefined ? [] : [{ x: s.step, y: s.terms[term]! }]));
    series.push({ label: term, color: PALETTE[(i + 1) % PALETTE.length]!, points });
  });
  return { kind: 'line', title, xLabel: 'step', yLabel: 'loss', series };
}

/** Each validation metric over the steps it was measured at; none when the run logged no validation. */
export function validationChart(log: MetricsLog, title: string): ChartSpec | undefined {
  if (log.evals.length === 0) return undefined;
  const metrics = [...new Set(log.evals.flatMap((e) => Object.keys(e.metrics)))];
  const series = metrics.map((metric, i) => ({
    label: metric,
    color: PALETTE[i % PALETTE.length]!,
    points: log.evals.flatMap((e) => (e.metrics[metric] === undefined ? [] : [{ x: e.step, y: e.metrics[metric]! }])),
  }));
  return { kind: 'line', title, xLabel: 'step', yLabel: 'validation metric', series };
}

/** The latency workload whose batch-1 time stands for a task. */
export const TASK_WORKLOAD: Record<Task, (typeof WORKLOADS)[number]> = { retrieval: 'retrieval', caption: 'caption', vqa: 'vqa' };

type Axis = 'parameters' | 'latency';

function axisValue(entry: ModelEntry, task: Task, axis: Axis): number | undefined {
  return axis === 'parameters' ? entry.cost[task]?.parameters : entry.latency?.[TASK_WORKLOAD[task]]?.batch1Ms;
}

/**
 * A task's headline score against parameters or batch-1 latency, one point per model that has both;
 * the teacher is its own series. Undefined when no model has both.
 */
export function qualityChart(results: Results, task: Task, axis: Axis): ChartSpec | undefined {
  const point = (entry: ModelEntry): ChartPoint[] => {
    const x = axisValue(entry, task, axis);
    const y = entry.scores[task]?.[HEADLINE[task].key];
    return x === undefined || y === undefined ? [] : [{ x, y, name: entry.name }];
  };
  const series: ChartSeries[] = [
    { label: 'teacher', color: TEACHER_COLOR, teacher: true, points: point(results.teacher) },
    { label: 'students', color: PALETTE[0]!, points: results.students.flatMap(point) },
  ].filter((s) => s.points.length > 0);
  if (series.length === 0) return undefined;
  const xLabel = axis === 'parameters' ? `parameters of the ${task} model` : `${TASK_WORKLOAD[task]} latency, batch 1 (ms)`;
  return { kind: 'scatter', title: `${task}: ${HEADLINE[task].label} vs ${axis}`, xLabel, yLabel: HEADLINE[task].label, xLog: true, series };
}
