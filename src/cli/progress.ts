// A training progress bar (step, loss, images/s, ETA) on stderr, quiet when stderr is not a terminal.
import cliProgress from 'cli-progress';
import type { TrainEvent, TrainHooks } from '../train/trainer.js';

export function trainingProgress(label: string): TrainHooks & { stop(): void } {
  const interactive = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} steps | loss {loss} | {ips} img/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: interactive,
      noTTYOutput: !interactive,
      notTTYSchedule: 30_000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onStep(e: TrainEvent) {
      const payload = { loss: e.loss.toFixed(4), ips: e.imagesPerSecond.toFixed(1) };
      if (!started) {
        bar.start(e.totalSteps, e.step, payload);
        started = true;
      } else bar.update(e.step, payload);
    },
    onEval(step, metrics) {
      const text = Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
      if (started) bar.stop(); // also ends the non-TTY redraw timer, which would keep the process alive
      started = false;
      process.stderr.write(`step ${step}: ${text}\n`);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
