// `dlip demo`: the whole path on the built-in world with the shipped teacher — distil tiny-student with
// dlip-default and train the same student without KD for the same steps, score teacher and both on
// every task, measure cost and latency — sized for about half an hour on 2 cores, or a few minutes (--quick).
import { GridSchema } from './grid.js';
import type { Grid, GridInput } from './grid.js';
import type { Priors } from './stages.js';

const FULL: GridInput = {
  teacher: 'tiny-teacher',
  students: ['tiny-student'],
  recipes: ['dlip-default', 'no-kd'],
  baseline: 'no-kd',
  seeds: [0],
  world: 'small',
  steps: 150,
  // A pre-trained model's answer decoder starts as a caption decoder: after 60 VQA steps the teacher
  // answered only "no" or "square" (26.4 on 100 val images; 120 steps: 43.1, 180: 43.8) and the
  // students only colours and shapes ("green", "circle": 3.9 and 13.8 on the test questions).
  vqaSteps: 120,
  teacherVqaSteps: 180,
  lr: 1e-3,
  warmupSteps: 15,
  vqaLr: 5e-4,
  vqaWarmupSteps: 6,
  evalImages: 50,
  limit: 100,
  checkpointEvery: 50,
  latency: { repeats: 3, warmup: 1, warmupMs: 500, gallery: 64, k: 16, captionLength: 20 },
  examples: 4,
};

/** The same stages, small enough for CI: the tiny world, two steps, a handful of test images. */
const QUICK: Partial<GridInput> = {
  world: 'tiny',
  steps: 2,
  vqaSteps: 2,
  teacherVqaSteps: 2,
  warmupSteps: 0,
  vqaWarmupSteps: 0,
  batchSize: 8,
  evalImages: 4,
  limit: 4,
  checkpointEvery: 2,
  latency: { repeats: 1, warmup: 0, warmupMs: 0, gallery: 8, k: 4, captionLength: 8 },
  examples: 2,
};

/**
 * Seconds per unit of work of each stage kind (training samples, examples scored), from the full demo
 * of 2026-12-02 with one thread beside another training job on a 2-core VM (latency: the machine
 * otherwise idle), so that a first run already shows an ETA; the run's own measurements replace them
 * stage kind by stage kind.
 */
export const DEMO_PRIORS: Priors = {
  'score-teacher': { seconds: 54, work: 200 },
  'finetune-vqa-teacher': { seconds: 566, work: 5760 },
  'score-vqa': { seconds: 6, work: 100 },
  'distill': { seconds: 771, work: 4800 },
  'score': { seconds: 11, work: 200 },
  'distill-vqa': { seconds: 205, work: 3840 },
  'train-no-kd': { seconds: 364, work: 4800 },
  'train-vqa-no-kd': { seconds: 88, work: 3840 },
  'latency': { seconds: 35, work: 2 },
};

export interface DemoOptions {
  quick?: boolean;
  /** Scales the students' training steps (distillation and VQA) of the full demo; 1 is about half an hour. */
  budget?: number;
}

export function demoGrid({ quick = false, budget = 1 }: DemoOptions = {}): Grid {
  if (!(budget > 0)) throw new Error(`--budget must be a positive number, got ${budget}`);
  const scale = (steps: number) => Math.max(1, Math.round(steps * budget));
  const input = quick ? { ...FULL, ...QUICK } : { ...FULL, steps: scale(FULL.steps), vqaSteps: scale(FULL.vqaSteps) };
  return GridSchema.parse(input);
}
