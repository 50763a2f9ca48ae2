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

export function runDecodeJob(job: DecodeJob): Promise<Float32Array> {
  const { crop } = job;
  return loadImageChw(job.path, {
    size: job.size,
    flip: job.flip,
    crop: crop && ((w, h) => sampleCrop(w, h, crop, new Rng(crop.seed))),
  });
}
