// The streaming pipeline: a seeded epoch order, decoding in worker threads with a bounded number of
// images in flight or waiting, and batches of tensors in a deterministic order.
import { tf } from '../../engine/backend.js';
import { DataError, warnToStderr, type OnBadSample, type Warn } from '../errors.js';
import type { RandomResizedCrop } from '../image.js';
import { hashSeed, Rng } from '../rng.js';
import { swapLeftRight } from '../text.js';
import type { BlipTokenizer, FirstToken } from '../tokenizer.js';
import { BoundedQueue } from './bounded-queue.js';
import { DecodePool } from './decode-pool.js';
import type { DecodeJob } from './decode-job.js';

export interface Augmentation {
  /** Random resized crop (BLIP trains with scale [0.5, 1], ratio [3/4, 4/3]); none when absent. */
  crop?: RandomResizedCrop;
  /** Probability of a horizontal flip (0 = off, the default for real data). */
  flipProbability?: number;
  /** Swap "left"/"right" in the text of flipped samples (required for the built-in world). */
  flipSwapsLeftRight?: boolean;
}

export interface LoaderOptions<T> {
  batchSize: number;
  imageSize: number;
  /** Image path of an item. */
  image: (item: T) => string;
  /** "file: record" of an item, for error messages. */
  describe: (item: T) => string;
  /** Text of an item; batches then carry texts and, with a tokenizer, token ids. */
  text?: (item: T) => string;
  tokenizer?: BlipTokenizer;
  maxLength?: number;
  firstToken?: FirstToken;
  shuffle?: boolean;
  seed?: number;
  augment?: Augmentation;
  dropLast?: boolean;
  /** Start after this many batches of the epoch (a resumed run continues mid-epoch). */
  skipBatches?: number;
  /** Images decoding or decoded and waiting (default 4 batches). */
  prefetch?: number;
  /** A shared pool; without one the loader makes its own per epoch and closes it. */
  pool?: DecodePool;
  onBadSample?: OnBadSample;
  warn?: Warn;
  /** Called for each sample left out under onBadSample 'skip' (training counts them in its metrics). */
  onSkip?: () => void;
}

export interface Batch<T> {
  /** [B,3,S,S] float32, BLIP-normalised. */
  pixels: tf.Tensor4D;
  items: T[];
  flipped: boolean[];
  /** Texts after any left/right swap. */
  texts?: string[];
  /** [B,T] int32. */
  inputIds?: tf.Tensor2D;
  /** [B,T] int32, 1 = token. */
  attentionMask?: tf.Tensor2D;
}

/** Disposes every tensor of a batch. */
export function disposeBatch(batch: Batch<unknown>): void {
  batch.pixels.dispose();
  batch.inputIds?.dispose();
  batch.attentionMask?.dispose();
}

/** The item order of an epoch: a seeded shuffle, different per epoch, identical across runs. */
export function epochOrder(count: number, seed: number, epoch: number, shuffle = true): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  return shuffle ? new Rng(seed, epoch, 0x5f1e).shuffle(order) : order;
}

interface Decoded {
  index: number;
  flipped: boolean;
  data?: Float32Array;
  error?: string;
}

/**
 * Batches of one epoch. Breaking out of the loop stops the producer and releases everything.
 * Each batch's tensors belong to the caller (disposeBatch).
 */
export async function* loadBatches<T>(items: readonly T[], options: LoaderOptions<T>, epoch = 0): AsyncGenerator<Batch<T>> {
  const { batchSize, imageSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const seed = options.seed ?? 0;
  const policy = options.onBadSample ?? 'fail';
  const warn = options.warn ?? warnToStderr;
  const flipP = options.augment?.flipProbability ?? 0;
  const order = epochOrder(items.length, seed, epoch, options.shuffle ?? true).slice((options.skipBatches ?? 0) * batchSize);
  const queue = new BoundedQueue<Promise<Decoded>>(options.prefetch ?? 4 * batchSize);
  const pool = options.pool ?? new DecodePool();
  let stopped = false;

  const produce = async () => {
    for (const index of order) {
      await queue.waitForSpace();
      if (stopped) break;
      // Per-sample randomness comes from (seed, epoch, index), so it does not depend on timing.
      const rng = new Rng(seed, epoch, index, 0xa06);
      const flipped = rng.chance(flipP);
      const crop = options.augment?.crop && { ...options.augment.crop, seed: hashSeed(seed, epoch, index, 0xc20) };
      const job: DecodeJob = { path: options.image(items[index]!), size: imageSize, flip: flipped, crop };
      const decoded = pool.decode(job).then(
        (data): Decoded => ({ index, flipped, data }),
        (err: Error): Decoded => ({ index, flipped, error: err.message }),
      );
      if (!(await queue.push(decoded))) break;
    }
    queue.close();
  };
  const producer = produce();

  const plane = 3 * imageSize * imageSize;
  let collected: Decoded[] = [];
  const emit = (): Batch<T> => {
    const pixels = new Float32Array(collected.length * plane);
    collected.forEach((d, i) => pixels.set(d.data!, i * plane));
    const batchItems = collected.map((d) => items[d.index]!);
    const flipped = collected.map((d) => d.flipped);
    const batch: Batch<T> = { pixels: tf.tensor4d(pixels, [collected.length, 3, imageSize, imageSize], 'float32'), items: batchItems, flipped };
    if (options.text) {
      const swap = options.augment?.flipSwapsLeftRight ?? false;
      batch.texts = batchItems.map((item, i) => (swap && flipped[i] ? swapLeftRight(options.text!(item)) : options.text!(item)));
      if (options.tokenizer) {
        const enc = options.tokenizer.encodeToTensors(batch.texts, { maxLength: options.maxLength ?? 35, firstToken: options.firstToken, padding: 'max_length' });
        batch.inputIds = enc.inputIds;
        batch.attentionMask = enc.attentionMask;
      }
    }
    collected = [];
    return batch;
  };

  try {
    for (;;) {
      const next = await queue.shift();
      if (next === undefined) break;
      const decoded = await next;
      if (decoded.error !== undefined) {
        const where = options.describe(items[decoded.index]!);
        const message = `${where}: cannot decode image ${options.image(items[decoded.index]!)}: ${decoded.error}`;
        if (policy === 'fail') throw new DataError(`bad sample (use --on-bad-sample skip to leave such samples out):\n  ${message}`);
        warn(`skipped ${message}`);
        options.onSkip?.();
        continue;
      }
      collected.push(decoded);
      if (collected.length === batchSize) yield emit();
    }
    if (collected.length > 0 && !options.dropLast) yield emit();
  } finally {
    stopped = true;
    // Let in-flight decodes settle so nothing rejects unobserved, then release the pool.
    await Promise.allSettled(queue.drain());
    await producer;
    if (!options.pool) await pool.close();
  }
}
