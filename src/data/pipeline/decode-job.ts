// What the main thread asks a decode worker to do, and how the worker carries it out. Kept free of
// worker plumbing so the same code runs in-thread (tests, benchmarks) and in workers.
import { loadImageChw, sampleCrop, type RandomResizedCrop } from '../image.js';
import { Rng } from '../rng.js';

export interface DecodeJob {
  path: string;
  size: number;
  flip: boolean;
  /** Random resized crop, drawn from its own seed so results do not depend on which worker runs it. */
  crop?: RandomResizedCrop & { seed: number };
}

/** libvips repeats a message once per attempt, a line each: one line, each message once. */
function oneLine(message: string): string {
  const kept: string[] = [];
  for (const line of message.split('\n').map((l) => l.trim())) if (line && !kept.some((k) => k.includes(line))) kept.push(line);
  return kept.join('; ');
}

export async function runDecodeJob(job: DecodeJob): Promise<Float32Array> {
  const { crop } = job;
  try {
    return await loadImageChw(job.path, {
      size: job.size,
      flip: job.flip,
      crop: crop && ((w, h) => sampleCrop(w, h, crop, new Rng(crop.seed))),
    });
  } catch (err) {
    throw new Error(oneLine(err instanceof Error ? err.message : String(err)));
  }
}
