// A training progress bar (step, loss, images/s, ETA) on stderr, redrawn every 30 s when stderr is
// not a terminal; warnings and evaluations print on their own lines.
import cliProgress from 'cli-progress';
import { duration as formatSeconds } from '../experiment/stages.js';
import type { TrainEvent, TrainHooks, TrainResult } from '../train/trainer.js';

/** Seconds as "<1s", "45s", "12m05s" or "3h07m". */
const duration = (seconds: number): string => (seconds < 0.5 ? '<1s' : formatSeconds(seconds));

/** The closing line of a run: the steps this process trained (from where it resumed), time and loss. */
export function trainedSummary(result: TrainResult): string {
  const trained = result.steps - result.startStep;
  const where = result.startStep > 0 ? ` (resumed at step ${result.startStep}, now at ${result.steps})` : '';
  const loss = Number.isFinite(result.lastLoss) ? `, final loss ${result.lastLoss.toFixed(4)}` : '';
  return `trained ${trained} step${trained === 1 ? '' : 's'}${where} in ${result.seconds.toFixed(0)} s${loss}`;
}

export function trainingProgress(label: string, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): TrainHooks & { stop(): void } {
  const interactive = stream.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      // The ETA is ours ({eta} is cli-progress's own, "0s" before it has a rate).
      format: `${label} [{bar}] {value}/{total} steps | loss {loss} | {ips} img/s | ETA {remaining}`,
      stream,
      hideCursor: interactive,
      noTTYOutput: !interactive,
      notTTYSchedule: 30_000,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let first: { step: number; time: number } | undefined;
  const eta = (e: TrainEvent): string => {
    const now = Date.now();
    first ??= { step: e.step, time: now };
    // The rate is measured from the first step this process finished: until a second one, there is none.
    if (e.step >= e.totalSteps) return '0s';
    if (e.step === first.step) return '--';
    return duration((((now - first.time) / 1000) * (e.totalSteps - e.step)) / (e.step - first.step));
  };
  return {
    onStep(e: TrainEvent) {
      const payload = { loss: e.loss.toFixed(4), ips: e.imagesPerSecond.toFixed(1), remaining: eta(e) };
      if (!started) {
        bar.start(e.totalSteps, e.step, payload);
        started = true;
      } else bar.update(e.step, payload);
    },
    onEval(step, metrics) {
      const text = Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
      if (started) bar.stop(); // also ends the non-TTY redraw timer, which would keep the process alive
      started = false;
      stream.write(`step ${step}: ${text}\n`);
    },
    onWarning(message) {
      if (started) bar.stop();
      started = false;
      stream.write(`dlip: warning: ${message}\n`);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/**
 * A bar of work done of a total with cli-progress's ETA (a pre-pass, a render) on a terminal; in a log,
 * a line with the ETA every 30 s of work, so that a long teacher pre-pass is never silent and a short
 * task adds nothing.
 */
export function progressBar(label: string, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): { update: (done: number, total: number) => void; stop: () => void } {
  if (stream.isTTY !== true) {
    let first: number | undefined;
    let last = 0;
    return {
      update: (done, total) => {
        const now = Date.now();
        first ??= now;
        if (now - Math.max(first, last) < 30_000 || done === 0) return;
        last = now;
        stream.write(`${label} ${done}/${total}, ETA ${formatSeconds((((now - first) / 1000) * (total - done)) / done)}\n`);
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} {eta_formatted}`, stream }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}
