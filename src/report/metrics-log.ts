// A training run's metrics.jsonl (train/trainer.ts): a line per logged step with the loss and its
// named terms, and a line per validation with its metrics, both keyed by the optimizer step.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const StepLine = z.object({ step: z.number(), loss: z.number(), terms: z.record(z.string(), z.number()).default({}) });
const EvalLine = z.object({ step: z.number(), eval: z.record(z.string(), z.number()) });

export interface MetricsLog {
  file: string;
  steps: { step: number; loss: number; terms: Record<string, number> }[];
  evals: { step: number; metrics: Record<string, number> }[];
}

/** Parses a metrics.jsonl; a line that is neither kind is an error naming the file and line. */
export function parseMetricsLog(text: string, file: string): MetricsLog {
  const log: MetricsLog = { file, steps: [], evals: [] };
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    const evaluation = EvalLine.safeParse(value);
    if (evaluation.success) {
      log.evals.push({ step: evaluation.data.step, metrics: evaluation.data.eval });
      return;
    }
    const step = StepLine.safeParse(value);
    if (!step.success) throw new Error(`${file}:${i + 1}: neither a step line (step, loss, terms) nor an eval line (step, eval): ${z.prettifyError(step.error)}`);
    log.steps.push(step.data);
  });
  return log;
}

export async function readMetricsLog(file: string): Promise<MetricsLog> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${file}: cannot read the metrics log (${err.code ?? err.message})`);
  });
  return parseMetricsLog(text, file);
}
