// Long experiments as a list of stages, each of which leaves its output on disk: a rerun skips the
// stages that are done and resumes a training stage from its checkpoint, so a killed run loses at most
// the checkpoint interval. Stages of one kind share a measured rate (seconds per unit of work), which
// estimates the time left of the stages still to run, in this run and in the next.
import { existsSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../io/atomic.js';
import type { TrainHooks } from '../train/trainer.js';

export type StageState = 'done' | 'resumes' | 'to run';

/** What a stage reports while it runs: training steps (TrainHooks) and scoring progress. */
export interface StageHooks extends TrainHooks {
  onScoreProgress?(task: string, done: number, total: number): void;
}

export interface Stage {
  label: string;
  /** Stages of one kind share a rate in the timings file. */
  kind: string;
  /** Units of work (training samples, examples scored): the rate's denominator. */
  work: number;
  state(): StageState;
  run(hooks: StageHooks): Promise<void>;
}

/** Seconds per unit of work by kind of stage, summed over stages run whole. */
export type Timings = Record<string, { seconds: number; work: number }>;

/** Rates measured on another machine, for the stages this one has not timed yet. */
export type Priors = Timings;

export interface StageProgress {
  /** Called before a stage runs; `left` is the estimate of the stages after it. */
  start(index: number, total: number, stage: Stage, state: StageState, left: Estimate): StageHooks;
  skip(index: number, total: number, stage: Stage): void;
  finish(index: number, total: number, stage: Stage, seconds: number): void;
}

/** Seconds still to run, and the kinds of stage nothing has timed yet (their time is not in `seconds`). */
export interface Estimate {
  seconds: number;
  untimed: string[];
}

/** Seconds as "45s", "12m05s" or "3h07m". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function describeEstimate(e: Estimate): string {
  if (!e.untimed.length) return duration(e.seconds);
  return `${e.seconds > 0 ? `${duration(e.seconds)} + ` : ''}stages not timed yet (${e.untimed.join(', ')})`;
}

export class StageRunner {
  private readonly timings: Timings;

  constructor(
    readonly stages: Stage[],
    private readonly timingsFile: string,
    private readonly priors: Priors = {},
  ) {
    this.timings = existsSync(timingsFile) ? (JSON.parse(readFileSync(timingsFile, 'utf8')) as Timings) : {};
  }

  /** A stage's expected seconds: this run's measured rate, else the prior. */
  estimate(stage: Stage): number | undefined {
    const t = this.timings[stage.kind] ?? this.priors[stage.kind];
    return t && t.work > 0 ? (t.seconds / t.work) * stage.work : undefined;
  }

  /** The estimate of the stages after `index` that are not done. */
  remaining(after: number): Estimate {
    const left = this.stages.slice(after + 1).filter((s) => s.state() !== 'done');
    return {
      seconds: left.reduce((a, s) => a + (this.estimate(s) ?? 0), 0),
      untimed: [...new Set(left.filter((s) => this.estimate(s) === undefined).map((s) => s.kind))],
    };
  }

  /** The plan as lines: label, state, kind and estimate of every stage. */
  describe(): string[] {
    return this.stages.map((s, i) => {
      const e = this.estimate(s);
      return `${String(i + 1).padStart(3)}. ${s.label.padEnd(46)} ${s.state().padEnd(8)} ${e === undefined ? 'not timed yet' : `~${duration(e)}`}`;
    });
  }

  async run(progress: StageProgress): Promise<void> {
    const total = this.stages.length;
    for (const [i, stage] of this.stages.entries()) {
      const state = stage.state();
      if (state === 'done') {
        progress.skip(i, total, stage);
        continue;
      }
      const hooks = progress.start(i, total, stage, state, this.remaining(i));
      const started = Date.now();
      await stage.run(hooks);
      const seconds = (Date.now() - started) / 1000;
      // Only stages run whole give a rate: a resumed one did part of its work before.
      if (state === 'to run' && stage.work > 0) {
        const t = (this.timings[stage.kind] ??= { seconds: 0, work: 0 });
        t.seconds += seconds;
        t.work += stage.work;
        await writeJsonAtomic(this.timingsFile, this.timings);
      }
      progress.finish(i, total, stage, seconds);
    }
  }
}
