// The tables of the distillation evidence (bench/distill-evidence.ts), from the scores it saved:
// KD vs the no-KD baseline over seeds, retention of the teacher's score, the recipe ablation, the
// cost ratios, and which of issue 10's claims the numbers meet. Pure functions: no I/O, no models.

export const EVIDENCE_TASKS = ['retrieval', 'caption', 'vqa'] as const;
export type EvidenceTask = (typeof EVIDENCE_TASKS)[number];

/** The one number per task the claims are about. */
export const TASK_METRIC: Record<EvidenceTask, string> = {
  retrieval: 'R@1 (mean of TR@1, IR@1)',
  caption: 'CIDEr',
  vqa: 'VQA accuracy',
};

export type TaskScores = Partial<Record<EvidenceTask, number>>;

export interface RunScores {
  recipe: string;
  seed: number;
  scores: TaskScores;
}

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

/** Parameters and analytic FLOPs of one inference model, teacher and student (src/eval/cost.ts). */
export interface CostRow {
  model: string;
  architecture: string;
  teacherParameters: number;
  studentParameters: number;
  teacherFlops: number;
  studentFlops: number;
}

export interface EvidenceInput {
  tasks: readonly EvidenceTask[];
  teacher: TaskScores;
  runs: RunScores[];
  /** The recipe whose students stand for "KD", and the one for "no KD". */
  kd: string;
  baseline: string;
  /** Recipes run on every seed, and the seed their ablation row is taken from. */
  recipes: readonly string[];
  ablations: readonly string[];
  ablationSeed: number;
  descriptions: Record<string, string>;
  cost: CostRow[];
  /** Issue 10's bars: retention ≥ 0.95, student cost ≤ 0.25 of the teacher's. */
  minRetention?: number;
  maxCostRatio?: number;
}

export interface Comparison {
  task: EvidenceTask;
  teacher?: number;
  kd?: Spread;
  baseline?: Spread;
  /** KD mean − baseline mean over the seeds both ran (a seed one of them lacks would bias it). */
  delta?: number;
  /** Seeds where both ran, and on how many of them KD scored higher. */
  paired: { seeds: number; kdWins: number };
}

export interface Check {
  claim: string;
  /** undefined: not measured (yet). */
  met?: boolean;
  detail: string;
}

export interface Evidence {
  tasks: readonly EvidenceTask[];
  teacher: TaskScores;
  /** Per recipe run on every seed, per task, its spread over the seeds that finished. */
  recipes: Record<string, Partial<Record<EvidenceTask, Spread>>>;
  comparison: Comparison[];
  retention: { recipe: string; task: EvidenceTask; ratio?: number }[];
  ablation: { recipe: string; seed: number; description: string; scores: TaskScores; deltaVsBaseline: TaskScores }[];
  cost: (CostRow & { parameterRatio: number; flopRatio: number })[];
  checks: Check[];
}

const scoreOf = (runs: RunScores[], recipe: string, seed: number) => runs.find((r) => r.recipe === recipe && r.seed === seed)?.scores;

export function summarize(input: EvidenceInput): Evidence {
  const { tasks, teacher, runs } = input;
  const minRetention = input.minRetention ?? 0.95;
  const maxCost = input.maxCostRatio ?? 0.25;
  const recipes: Evidence['recipes'] = {};
  for (const recipe of input.recipes) {
    const mine = runs.filter((r) => r.recipe === recipe);
    recipes[recipe] = Object.fromEntries(tasks.map((t) => [t, spread(mine.flatMap((r) => (r.scores[t] === undefined ? [] : [r.scores[t]!])))]));
  }

  const comparison = tasks.map((task): Comparison => {
    const kd = recipes[input.kd]?.[task];
    const baseline = recipes[input.baseline]?.[task];
    const seeds = [...new Set(runs.map((r) => r.seed))];
    const differences: number[] = [];
    for (const seed of seeds) {
      const a = scoreOf(runs, input.kd, seed)?.[task];
      const b = scoreOf(runs, input.baseline, seed)?.[task];
      if (a !== undefined && b !== undefined) differences.push(a - b);
    }
    const delta = differences.length > 0 ? differences.reduce((x, y) => x + y, 0) / differences.length : undefined;
    return { task, teacher: teacher[task], kd, baseline, delta, paired: { seeds: differences.length, kdWins: differences.filter((d) => d > 0).length } };
  });

  const retention = input.recipes.flatMap((recipe) =>
    tasks.map((task) => {
      const mean = recipes[recipe]?.[task]?.mean;
      const t = teacher[task];
      return { recipe, task, ratio: mean !== undefined && t !== undefined && t > 0 ? mean / t : undefined };
    }),
  );

  const ablation = [...new Set([...input.recipes, ...input.ablations])].flatMap((recipe) => {
    const scores = scoreOf(runs, recipe, input.ablationSeed);
    if (!scores) return [];
    const base = scoreOf(runs, input.baseline, input.ablationSeed);
    const deltaVsBaseline = Object.fromEntries(tasks.flatMap((t) => (scores[t] !== undefined && base?.[t] !== undefined ? [[t, scores[t]! - base[t]!]] : [])));
    return [{ recipe, seed: input.ablationSeed, description: input.descriptions[recipe] ?? '', scores, deltaVsBaseline }];
  });

  const cost = input.cost.map((c) => ({ ...c, parameterRatio: c.studentParameters / c.teacherParameters, flopRatio: c.studentFlops / c.teacherFlops }));

  const checks: Check[] = [];
  for (const c of comparison) {
    const seeds = c.kd && c.baseline ? `${c.kd.n} / ${c.baseline.n} seeds` : 'not measured';
    // Decided only once every seed either ran is paired: a partial run is reported, not judged.
    const complete = c.kd !== undefined && c.baseline !== undefined && c.paired.seeds === Math.max(c.kd.n, c.baseline.n);
    checks.push({
      claim: `${input.kd} beats ${input.baseline} on ${c.task} (${TASK_METRIC[c.task]}, mean over seeds)`,
      met: c.delta === undefined || !complete ? undefined : c.delta > 0,
      detail: c.delta === undefined ? seeds : `Δ ${signed(c.delta)} (${seeds}; higher on ${c.paired.kdWins} of ${c.paired.seeds} paired seeds${complete ? '' : '; incomplete'})`,
    });
  }
  for (const r of retention.filter((x) => x.recipe === input.kd)) {
    const measured = teacher[r.task] !== undefined && recipes[input.kd]?.[r.task] !== undefined;
    checks.push({
      claim: `${input.kd} keeps ≥ ${pct(minRetention)} of the teacher's ${TASK_METRIC[r.task]}`,
      met: r.ratio === undefined ? undefined : r.ratio >= minRetention,
      detail: r.ratio !== undefined ? pct(r.ratio) : measured ? 'the teacher scores 0: no ratio' : 'not measured',
    });
  }
  for (const c of cost) {
    checks.push({ claim: `student ≤ ${pct(maxCost)} of the teacher's parameters (${c.model})`, met: c.parameterRatio <= maxCost, detail: pct(c.parameterRatio) });
    checks.push({ claim: `student ≤ ${pct(maxCost)} of the teacher's FLOPs (${c.model})`, met: c.flopRatio <= maxCost, detail: pct(c.flopRatio) });
  }
  return { tasks, teacher, recipes, comparison, retention, ablation, cost, checks };
}

const f2 = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(2));
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const millions = (x: number) => `${(x / 1e6).toFixed(2)}M`;
const giga = (x: number) => `${(x / 1e9).toFixed(3)}G`;

/** "mean ± std (min–max, n)"; the std is the sample standard deviation over seeds. */
export function formatSpread(s: Spread | undefined): string {
  if (!s) return '—';
  if (s.n === 1) return `${s.mean.toFixed(2)} (1 seed)`;
  return `${s.mean.toFixed(2)} ± ${s.std!.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)}, n=${s.n})`;
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/**
 * The evidence as markdown: what a README section shows, with the command that produced it. `vqaKd`:
 * the KD recipes distilled their VQA models from the teacher's (bench --vqa-kd).
 */
export function renderEvidence(e: Evidence, kd: string, baseline: string, command: string, vqaKd = false): string {
  const parts: string[] = [];
  parts.push(`Command: \`${command}\``);
  parts.push(
    `### ${kd} vs ${baseline} (test split)\n\nEach cell: mean ± sample standard deviation over seeds (min–max, number of seeds). ` +
      'Retrieval is the mean of TR@1 and IR@1 (ITM rerank of the ITC top k); captioning is CIDEr (beam 3) of the distilled pre-training model; ' +
      (vqaKd
        ? `VQA is the accuracy of each model's VQA stage: ${baseline} and the teacher fine-tuned (\`finetune --task vqa\`), the KD recipes distilled from the teacher's fine-tuned VQA model with the same steps (\`distill --task vqa\`, --vqa-kd).\n\n`
        : 'VQA is the accuracy after the same `finetune --task vqa` of each model.\n\n') +
      table(
        ['task', 'teacher', kd, baseline, 'Δ (paired seeds)', 'seeds KD higher'],
        e.comparison.map((c) => [`${c.task}: ${TASK_METRIC[c.task]}`, f2(c.teacher), formatSpread(c.kd), formatSpread(c.baseline), c.delta === undefined ? '—' : signed(c.delta), `${c.paired.kdWins}/${c.paired.seeds}`]),
      ),
  );
  const recipes = [...new Set(e.retention.map((r) => r.recipe))];
  parts.push(
    '### Retention (student mean / teacher)\n\n' +
      table(['recipe', ...e.tasks], recipes.map((recipe) => [recipe, ...e.tasks.map((t) => {
        const r = e.retention.find((x) => x.recipe === recipe && x.task === t)?.ratio;
        return r === undefined ? '—' : pct(r);
      })])),
  );
  if (e.ablation.length) {
    parts.push(
      `### Ablation (seed ${e.ablation[0]!.seed}, one run each; Δ against ${baseline} at the same seed)\n\n` +
        table(
          ['recipe', ...e.tasks.map((t) => TASK_METRIC[t]), ...e.tasks.map((t) => `Δ ${t}`), 'what it distils'],
          e.ablation.map((a) => [a.recipe, ...e.tasks.map((t) => f2(a.scores[t])), ...e.tasks.map((t) => (a.deltaVsBaseline[t] === undefined ? '—' : signed(a.deltaVsBaseline[t]!))), a.description]),
        ),
    );
  }
  parts.push(
    '### Cost (student / teacher; FLOPs of one example at the configured image size, src/eval/cost.ts)\n\n' +
      table(
        ['model', 'teacher params', 'student params', 'ratio', 'teacher FLOPs', 'student FLOPs', 'ratio'],
        e.cost.map((c) => [`${c.model} (${c.architecture})`, millions(c.teacherParameters), millions(c.studentParameters), pct(c.parameterRatio), giga(c.teacherFlops), giga(c.studentFlops), pct(c.flopRatio)]),
      ),
  );
  parts.push(
    '### Claims of issue 10 against these numbers\n\n' +
      table(['claim', 'met', 'measured'], e.checks.map((c) => [c.claim, c.met === undefined ? 'not measured' : c.met ? 'yes' : '**no**', c.detail])),
  );
  return `${parts.join('\n\n')}\n`;
}
