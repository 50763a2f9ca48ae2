// An experiment's results over seeds: each (recipe, student) of a grid run on several seeds gets its
// spread per task and KD's gain over the baseline paired seed by seed (a seed one side lacks would bias
// a difference of means); DLIP's headline targets are then checked against those figures. Pure
// functions of results.json, like the decision figures in results.ts.
import { HEADLINE, SECONDARY, speedups, TASKS } from './results.js';
import type { ModelEntry, Results, Task, Workload } from './results.js';

/** Values over seeds: mean, sample standard deviation (n − 1; none for one value), min and max. */
export interface Spread {
  n: number;
  mean: number;
  std?: number;
  min: number;
  max: number;
  values: number[];
}

export function spread(values: number[]): Spread | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : undefined;
  return { n, mean, std, min: Math.min(...values), max: Math.max(...values), values };
}

/** KD's gain on one task: the mean of the per-seed differences over the seeds both groups scored. */
export interface PairedGain {
  mean: number;
  /** Seeds both scored, and on how many of them this group was higher. */
  seeds: number;
  wins: number;
  /** Every seed either group scored is paired: a partial run is reported, not judged. */
  complete: boolean;
}

/** One metric of one (recipe, student) over its seeds. */
export interface SeedMetric {
  task: Task;
  /** The score key (results.ts HEADLINE or SECONDARY). */
  key: string;
  headline: boolean;
  spread: Spread;
  /** Mean / the teacher's score. */
  retained?: number;
  /** Against the baseline recipe on the same student; absent for the baseline itself. */
  gain?: PairedGain;
}

/** One recipe on one student over the seeds it ran. */
export interface SeedGroup {
  recipe: string;
  student: string;
  /** The seeds of its cells, scored or not (a metric's spread counts those that scored). */
  seeds: number[];
  /** Whether this is the baseline recipe (it has no gain over itself). */
  baseline: boolean;
  /** Per task, its headline then its secondary metrics, each over the seeds that scored it. */
  metrics: SeedMetric[];
  /** An entry of the group: cost and latency depend on the student's config only, not its seed. */
  entry: ModelEntry;
}

const groupKey = (e: ModelEntry) => `${e.recipe}/${e.student}`;
const scoreOf = (e: ModelEntry, task: Task, key: string) => e.scores[task]?.[key];

/** A group's headline metric on `task`, if scored. */
export function headlineMetric(group: SeedGroup, task: Task): SeedMetric | undefined {
  return group.metrics.find((m) => m.task === task && m.headline);
}

/** The students of `results` grouped by recipe and student, in the order they first appear. */
export function overSeeds(results: Results): SeedGroup[] {
  const groups = new Map<string, ModelEntry[]>();
  for (const s of results.students) groups.set(groupKey(s), [...(groups.get(groupKey(s)) ?? []), s]);
  return [...groups.values()].map((entries): SeedGroup => {
    const first = entries[0]!;
    const isBaseline = first.recipe === results.baseline;
    const base = results.students.filter((s) => s.recipe === results.baseline && s.student === first.student);
    const metrics: SeedMetric[] = [];
    for (const task of TASKS) {
      for (const [key, isHeadline] of [[HEADLINE[task].key, true], ...SECONDARY[task].map((m) => [m.key, false])] as [string, boolean][]) {
        const s = spread(entries.flatMap((e) => scoreOf(e, task, key) ?? []));
        if (!s) continue;
        const t = scoreOf(results.teacher, task, key);
        const gain = isBaseline ? undefined : pairedGain(entries, base, task, key);
        metrics.push({ task, key, headline: isHeadline, spread: s, ...(t !== undefined && t > 0 && { retained: s.mean / t }), ...(gain && { gain }) });
      }
    }
    return { recipe: first.recipe ?? '', student: first.student ?? '', seeds: entries.map((e) => e.seed ?? 0), baseline: isBaseline, metrics, entry: first };
  });
}

function pairedGain(mine: ModelEntry[], base: ModelEntry[], task: Task, key: string): PairedGain | undefined {
  const bySeed = (entries: ModelEntry[]) => new Map(entries.flatMap((e) => {
    const x = scoreOf(e, task, key);
    return x === undefined ? [] : [[e.seed ?? 0, x] as const];
  }));
  const [a, b] = [bySeed(mine), bySeed(base)];
  const differences = [...a].flatMap(([seed, x]) => (b.has(seed) ? [x - b.get(seed)!] : []));
  if (!differences.length) return undefined;
  return {
    mean: differences.reduce((x, y) => x + y, 0) / differences.length,
    seeds: differences.length,
    wins: differences.filter((d) => d > 0).length,
    complete: differences.length === new Set([...a.keys(), ...b.keys()]).size,
  };
}

/** DLIP's headline (Kuang et al. 2023): ~22% of the teacher's parameters keeps > 95% of its quality, 2.7x faster. */
export const DLIP_TARGETS = { retained: 0.95, costRatio: 0.25, speedup: 2.7 } as const;

export interface TargetCheck {
  /** The group it is about: "dlip-default/tiny-student". */
  group: string;
  claim: string;
  /** undefined: not measured (yet), or not decidable from a partial run. */
  met?: boolean;
  measured: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;

/** Each KD group against DLIP's targets: beats the baseline and keeps 95% on every task, a quarter of the cost, 2.7x the speed. */
export function targetChecks(results: Results, groups: SeedGroup[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const g of groups.filter((x) => !x.baseline)) {
    const group = `${g.recipe}/${g.student}`;
    for (const m of g.metrics.filter((x) => x.headline)) {
      const { task, gain, retained: kept } = m;
      checks.push({
        group,
        claim: `beats ${results.baseline} on ${task} (mean over seeds)`,
        met: gain?.complete ? gain.mean > 0 : undefined,
        measured: gain ? `${signed(gain.mean)}, higher on ${gain.wins} of ${gain.seeds} paired seeds${gain.complete ? '' : ' (incomplete)'}` : 'no baseline score',
      });
      checks.push({
        group,
        claim: `keeps ≥ ${pct(DLIP_TARGETS.retained)} of the teacher's ${task} score`,
        met: kept === undefined ? undefined : kept >= DLIP_TARGETS.retained,
        measured: kept === undefined ? 'no teacher score' : pct(kept),
      });
      const [tc, sc] = [results.teacher.cost[task], g.entry.cost[task]];
      if (tc && sc) {
        const [p, f] = [sc.parameters / tc.parameters, sc.flops / tc.flops];
        checks.push({ group, claim: `≤ ${pct(DLIP_TARGETS.costRatio)} of the teacher's parameters and FLOPs (${task} model)`, met: p <= DLIP_TARGETS.costRatio && f <= DLIP_TARGETS.costRatio, measured: `${pct(p)} / ${pct(f)}` });
      }
    }
    for (const s of speedups(results, g.entry)) {
      const slowest = Math.min(s.batch1 ?? Infinity, s.batch32 ?? Infinity);
      checks.push({
        group,
        claim: `≥ ${DLIP_TARGETS.speedup}x faster than the teacher (${WORKLOAD_NAMES[s.workload]}, batch 1 and 32)`,
        met: Number.isFinite(slowest) ? slowest >= DLIP_TARGETS.speedup : undefined,
        measured: `${s.batch1?.toFixed(1) ?? '–'}x / ${s.batch32?.toFixed(1) ?? '–'}x`,
      });
    }
  }
  return checks;
}

const WORKLOAD_NAMES: Record<Workload, string> = { image: 'image encoding', retrieval: 'retrieval scoring', caption: 'a caption', vqa: 'an answer' };
