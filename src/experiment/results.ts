// The results of an experiment run (`dlip demo`, `dlip ablate`): one teacher and its students, each
// scored on the test split per task, with its cost and measured latency. `results.json` in the run
// folder holds this; the summary table, results.csv/.md and `dlip report` all read it, and the
// decision figures (retained fraction of the teacher, KD's gain over the no-KD student) are derived
// here so that every reader computes them the same way.
import { z } from 'zod';
import { parseNamed } from './validate.js';

export const RESULTS_FILE = 'results.json';
export const RESULTS_FORMAT = 'dlip-results';

export const TASKS = ['retrieval', 'caption', 'vqa'] as const;
export type Task = (typeof TASKS)[number];

/** The one number per task that the decision figures use; every score is on a 0–100 scale. */
export const HEADLINE: Record<Task, { key: string; label: string }> = {
  retrieval: { key: 'r1', label: 'R@1 (mean of TR@1 and IR@1)' },
  caption: { key: 'cider', label: 'CIDEr' },
  vqa: { key: 'accuracy', label: 'VQA accuracy' },
};

/**
 * Metrics shown beside a task's headline over seeds: retrieval's first stage alone, since a small
 * student's ITM head can cost it more in the rerank than its ITC features lose.
 */
export const SECONDARY: Record<Task, { key: string; label: string }[]> = {
  retrieval: [{ key: 'itc_r1', label: 'R@1 of the ITC stage alone (no ITM rerank)' }],
  caption: [],
  vqa: [],
};

/** Inference workloads whose latency is measured at batch 1 and batch 32. */
export const WORKLOADS = ['image', 'retrieval', 'caption', 'vqa'] as const;
export type Workload = (typeof WORKLOADS)[number];

const TaskRecord = <T extends z.ZodType>(value: T) => z.partialRecord(z.enum(TASKS), value);

export const ModelEntrySchema = z.strictObject({
  /** Unique in the run: "teacher", or e.g. "dlip-default/tiny-student/seed 0". */
  name: z.string().min(1),
  role: z.enum(['teacher', 'student']),
  recipe: z.string().optional(),
  /** The student's preset, config file or folder as given. */
  student: z.string().optional(),
  seed: z.number().int().optional(),
  /** The model folder scored for each task (absolute, or relative to the run folder). */
  models: TaskRecord(z.string()),
  /** sha256 of each model folder's weights file, keyed by the folder as in `models`. */
  sha256: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
  /** The task model's parameters and analytic FLOPs of one forward (src/eval/cost.ts). */
  cost: TaskRecord(z.strictObject({ parameters: z.number().int().positive(), flops: z.number().positive() })),
  /** Median milliseconds per call at batch 1 and batch 32, on `backend`. */
  latency: z.partialRecord(z.enum(WORKLOADS), z.strictObject({ batch1Ms: z.number().positive(), batch32Ms: z.number().positive() })).optional(),
  /** Per task, every metric of `dlip eval` (0–100), including the headline key. */
  scores: TaskRecord(z.record(z.string(), z.number())),
  /** metrics.jsonl of each training run behind this model (distillation, VQA fine-tuning), in order. */
  metrics: z.array(z.strictObject({ label: z.string(), file: z.string() })).default([]),
});
export type ModelEntry = z.output<typeof ModelEntrySchema>;

/** One test image as each model saw it: what the report shows side by side, errors highlighted. */
export const ExampleSchema = z.strictObject({
  imageId: z.string(),
  /** The image, a file relative to the run folder. */
  image: z.string(),
  /** The reference captions; the first one is the query of the text→image top-5. */
  references: z.array(z.string()),
  questions: z.array(z.strictObject({ question: z.string(), answers: z.array(z.string()) })).default([]),
  /** Per model name (teacher or student entry name): its caption, its answer to each question in order, and
   * the image ids it ranks first for the first reference caption. */
  outputs: z.record(
    z.string(),
    z.strictObject({
      caption: z.string().optional(),
      answers: z.array(z.string()).optional(),
      top5: z.array(z.string()).optional(),
    }),
  ),
});
export type Example = z.output<typeof ExampleSchema>;

export const ResultsSchema = z.strictObject({
  format: z.literal(RESULTS_FORMAT),
  version: z.literal(1),
  kind: z.enum(['demo', 'ablate']),
  /** The command line that made the run, as typed (argv after node). */
  command: z.array(z.string()),
  created: z.iso.datetime(),
  /** dlip, node, tfjs and backend versions. */
  versions: z.record(z.string(), z.string()),
  backend: z.string(),
  data: z.strictObject({ name: z.string(), file: z.string(), split: z.literal('test'), limit: z.number().int().positive().optional() }),
  /** The recipe files used, by name, as JSON. */
  recipes: z.record(z.string(), z.unknown()),
  /** The recipe whose students count as "no KD" for KD's gain. */
  baseline: z.string(),
  teacher: ModelEntrySchema,
  students: z.array(ModelEntrySchema),
  examples: z.array(ExampleSchema).default([]),
  /** Image id → file relative to the run folder, for every image an example names (its own and its top-5s). */
  exampleImages: z.record(z.string(), z.string()).default({}),
});
export type Results = z.output<typeof ResultsSchema>;

/** Parses results.json, naming the file and the first bad field. */
export function parseResults(json: unknown, file: string): Results {
  return parseNamed(ResultsSchema, json, file);
}

export function headline(entry: ModelEntry, task: Task): number | undefined {
  return entry.scores[task]?.[HEADLINE[task].key];
}

/** What a deployer decides on, for one student and task. */
export interface Decision {
  task: Task;
  student: number;
  teacher?: number;
  /** student / teacher on the headline metric. */
  retained?: number;
  /** student − the no-KD student of the same student spec and seed (undefined for the baseline itself). */
  kdGain?: number;
  /** teacher / student parameters and FLOPs of the task model. */
  sizeRatio?: number;
  flopsRatio?: number;
}

export function decisions(results: Results, entry: ModelEntry): Decision[] {
  const { teacher } = results;
  const baseline = entry.recipe === results.baseline
    ? undefined
    : results.students.find((s) => s.recipe === results.baseline && s.student === entry.student && s.seed === entry.seed);
  const out: Decision[] = [];
  for (const task of TASKS) {
    const student = headline(entry, task);
    if (student === undefined) continue;
    const t = headline(teacher, task);
    const b = baseline && headline(baseline, task);
    const [tc, sc] = [teacher.cost[task], entry.cost[task]];
    out.push({
      task,
      student,
      teacher: t,
      retained: t === undefined || t === 0 ? undefined : student / t,
      kdGain: b === undefined ? undefined : student - b,
      sizeRatio: tc && sc ? tc.parameters / sc.parameters : undefined,
      flopsRatio: tc && sc ? tc.flops / sc.flops : undefined,
    });
  }
  return out;
}

/** teacher / student median latency per workload and batch: how many times faster the student is. */
export function speedups(results: Results, entry: ModelEntry): { workload: Workload; batch1?: number; batch32?: number }[] {
  const t = results.teacher.latency ?? {};
  const s = entry.latency ?? {};
  return WORKLOADS.flatMap((workload) => {
    const [a, b] = [t[workload], s[workload]];
    return a && b ? [{ workload, batch1: a.batch1Ms / b.batch1Ms, batch32: a.batch32Ms / b.batch32Ms }] : [];
  });
}
