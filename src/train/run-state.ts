// Where a training run folder stands, read from what the trainer leaves on disk: long experiments
// use it to skip finished runs and resume killed ones.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE } from '../io/checkpoint.js';
import { CHECKPOINT_DIR, FINAL_DIR } from './trainer.js';

/** The run holds a checkpoint to resume from (the current one, or the previous one kept while replacing it). */
export function hasCheckpoint(dir: string): boolean {
  return [CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`].some((n) => existsSync(join(dir, n, 'trainer.json')));
}

/** The trainer's own test of a finished run: its last checkpoint is at `steps` and final/ is complete. */
export function trainingFinished(dir: string, steps: number): boolean {
  for (const name of [CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`]) {
    const file = join(dir, name, 'trainer.json');
    if (!existsSync(file)) continue;
    const { step } = JSON.parse(readFileSync(file, 'utf8')) as { step?: unknown };
    return typeof step === 'number' && step >= steps && existsSync(join(dir, FINAL_DIR, MANIFEST_FILE));
  }
  return false;
}
