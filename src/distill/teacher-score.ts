// The teacher's validation score, measured once per run folder before distilling (every task).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import type { TrainHooks } from '../train/trainer.js';
import type { TargetsReport } from './targets.js';

export interface DistillHooks extends TrainHooks {
  /** The teacher's validation score, measured before distilling (also written to <out>/teacher.json). */
  onTeacherScore?(metrics: Record<string, number>): void;
  /** Building the teacher-target cache: pair-views done of all. */
  onTeacherTargetsProgress?(done: number, total: number): void;
  /** The cache opened (built or reused), and again after training with its measured read cost (also written to <out>/teacher-cache.json). */
  onTeacherTargets?(report: TargetsReport): void;
}

/** The run folder's record of the teacher's validation score. */
export const TEACHER_SCORE_FILE = 'teacher.json';

interface ScoredRun {
  out: string;
  evalImages: number;
  teacher: string;
  student: string;
}

/**
 * Runs `validate` (the teacher's validation on the split the student will be selected on) unless the
 * run folder already holds its score: a weak teacher teaches little (or harm), and the user should see
 * that before spending on a run. No validation (no val split): nothing is scored.
 */
export async function recordTeacherScore(
  validate: (() => Promise<Record<string, number>>) | undefined,
  cfg: ScoredRun,
  parameters: { teacher: number; student: number },
  hooks: DistillHooks,
): Promise<void> {
  const file = join(cfg.out, TEACHER_SCORE_FILE);
  if (!validate || existsSync(file)) return;
  const metrics = await validate();
  await mkdir(cfg.out, { recursive: true });
  await writeJsonAtomic(file, { split: 'val', imageLimit: cfg.evalImages, teacher: cfg.teacher, student: cfg.student, metrics, parameters });
  hooks.onTeacherScore?.(metrics);
}
