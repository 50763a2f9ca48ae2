// Progress of a staged experiment on stderr: a line when each stage starts (which stage of how many,
// and the estimated time of the rest), the training bar of src/cli/progress.ts inside training stages,
// and scoring progress (a bar on a terminal, a line every 30 s in a log).
import { describeEstimate, duration } from '../experiment/stages.js';
import type { StageProgress } from '../experiment/stages.js';
import { progressBar, trainingProgress } from './progress.js';

export function stageProgress(stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): StageProgress {
  let stopTraining: (() => void) | undefined;
  let stopScoring: (() => void) | undefined;
  const head = (index: number, total: number, label: string) => `[${index + 1}/${total}] ${label}`;
  return {
    skip(index, total, stage) {
      stream.write(`${head(index, total, stage.label)}: done, skipped\n`);
    },
    start(index, total, stage, state, left) {
      const what = state === 'resumes' ? 'resuming from its checkpoint' : 'starting';
      stream.write(`${head(index, total, stage.label)}: ${what}; the stages after it: ${describeEstimate(left)}\n`);
      const training = trainingProgress(`  ${stage.label}`, stream);
      stopTraining = training.stop;
      let part: { task: string; bar: ReturnType<typeof progressBar>; started: number; lastLine: number } | undefined;
      return {
        ...training,
        onScoreProgress(task, done, total) {
          if (part?.task !== task) {
            part?.bar.stop();
            // In a log this function writes its own lines (with the stage's ETA), so the bar is for a terminal only.
            const bar = stream.isTTY ? progressBar(`  ${task}`, stream) : { update: () => {}, stop: () => {} };
            part = { task, bar, started: Date.now(), lastLine: 0 };
            stopScoring = part.bar.stop;
          }
          part.bar.update(done, total);
          if (!stream.isTTY && (Date.now() - part.lastLine > 30_000 || done === total)) {
            part.lastLine = Date.now();
            const rate = done > 0 ? (Date.now() - part.started) / 1000 / done : undefined;
            stream.write(`  ${task} ${done}/${total}${rate === undefined || done === total ? '' : `, ETA ${duration(rate * (total - done))}`}\n`);
          }
        },
      };
    },
    finish(index, total, stage, seconds) {
      stopTraining?.();
      stopScoring?.();
      stream.write(`${head(index, total, stage.label)}: finished in ${duration(seconds)}\n`);
    },
  };
}
