// The experiment grid of `dlip ablate` (and, built in code, of `dlip demo`): one teacher, and the
// cells recipes × students × seeds, every cell trained and scored the same way. A JSON file like the
// presets and recipes, validated with errors that name the file and the field.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TASKS } from './results.js';
import { parseNamed } from './validate.js';

const positiveInt = z.number().int().positive();

export const LatencySettingsSchema = z.strictObject({
  /** Calls timed per workload and batch after the warm-up; the median is kept. */
  repeats: positiveInt.default(3),
  /** Untimed calls first: at least `warmup` of them, and at least `warmupMs` milliseconds. */
  warmup: z.number().int().nonnegative().default(1),
  warmupMs: z.number().nonnegative().default(500),
  /** Gallery images of the retrieval workload, and its ITM-reranked top k. */
  gallery: positiveInt.default(64),
  k: positiveInt.default(16),
  /** Tokens of the caption workload (beam 3, fixed length), counted as BLIP does: [DEC] + "a picture of " are 4. */
  captionLength: z.number().int().min(5, 'must leave a token after [DEC] and the 3-token prompt (at least 5)').default(20),
});

export const GridSchema = z
  .strictObject({
    /** A pre-training model folder or a shipped model name (tiny-teacher). */
    teacher: z.string().min(1),
    /** Student specs: presets, config JSON files or model folders. */
    students: z.array(z.string().min(1)).min(1).default(['tiny-student']),
    /** Recipes (shipped names or files) run on every student and seed. */
    recipes: z.array(z.string().min(1)).min(1).default(['dlip-default', 'no-kd']),
    /** The recipe whose cells are the "no KD" baseline of KD's gain; must be in `recipes`. */
    baseline: z.string().default('no-kd'),
    seeds: z.array(z.number().int().nonnegative()).min(1).default([0]),
    /** Built-in world size, or a dataset.json (then `world` is ignored). */
    world: z.enum(['tiny', 'small', 'large']).default('small'),
    data: z.string().optional(),
    tasks: z.array(z.enum(TASKS)).min(1).default([...TASKS]),
    /** Stage distillation steps of every cell, and VQA (task-adaptive) steps of every model. */
    steps: positiveInt,
    vqaSteps: positiveInt,
    /**
     * The teacher's own VQA fine-tuning steps (default vqaSteps). A teacher trained no better than the
     * students teaches them its mistakes: it is trained in advance, outside the students' budget.
     */
    teacherVqaSteps: positiveInt.optional(),
    /**
     * Whether a KD cell distils its VQA model from the teacher's (task-adaptive distillation, the
     * default) or fine-tunes it alone like the baseline, so VQA shows only what stage distillation left.
     * Optional rather than defaulted: run folders made before it existed keep their saved settings.
     */
    vqaKd: z.boolean().optional(),
    batchSize: positiveInt.default(32),
    lr: z.number().positive().optional(),
    warmupSteps: z.number().int().nonnegative().optional(),
    vqaLr: z.number().positive().optional(),
    vqaWarmupSteps: z.number().int().nonnegative().optional(),
    checkpointEvery: positiveInt.default(100),
    /** Validation images of each run's end-of-run validation. */
    evalImages: positiveInt.default(100),
    /** Score only the first n test images / questions. */
    limit: positiveInt.optional(),
    latency: LatencySettingsSchema.default(LatencySettingsSchema.parse({})),
    /** Test images shown per model in the report, with captions, answers and retrieval top-5. */
    examples: z.number().int().nonnegative().default(4),
  })
  .refine((g) => g.recipes.includes(g.baseline), { message: 'must be one of recipes', path: ['baseline'] })
  .refine((g) => new Set(g.recipes).size === g.recipes.length, { message: 'lists a recipe twice', path: ['recipes'] })
  .refine((g) => new Set(g.students).size === g.students.length, { message: 'lists a student twice', path: ['students'] })
  .refine((g) => new Set(g.seeds).size === g.seeds.length, { message: 'lists a seed twice', path: ['seeds'] });

export type Grid = z.output<typeof GridSchema>;
export type GridInput = z.input<typeof GridSchema>;

/** Validates a grid, naming `source` and the first bad field. */
export function parseGrid(json: unknown, source: string): Grid {
  return parseNamed(GridSchema, json, source);
}

export function readGrid(file: string): Grid {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseGrid(json, file);
}

/**
 * The grid fields every finished training and score depends on. Cells may be added to a run folder
 * (recipes, students, seeds); a change here would mix runs made under other settings, so it is
 * refused. Latency settings only redo the latency stage.
 */
export function sharedSettings(grid: Grid): Record<string, unknown> {
  const { recipes: _r, students: _s, seeds: _d, baseline: _b, examples: _e, latency: _l, ...shared } = grid;
  return shared;
}
