// Dynamic micro-batching: concurrent requests of one kind (and one set of generation parameters)
// share a forward. A batch leaves when it is full or its oldest item has waited maxWaitMs, whenever
// the model worker is free. The queue is bounded (503 + Retry-After when full) and every item has a
// deadline (503 when it passes, queued or in flight).
import { HttpError } from './errors.js';
import type { ItemResult, Job, JobKind, JobValues } from './protocol.js';
import type { ModelWorker } from './model-worker.js';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Items queued (not yet sent to the worker) at most. */
  queueLimit: number;
  timeoutMs: number;
}

export interface BatchEvent {
  kind: JobKind;
  size: number;
  seconds: number;
  /** The model version that ran it. */
  version: string;
}

interface Item {
  value: unknown;
  enqueued: number;
  settle: (r: ItemResult<unknown> | Error, version?: string) => void;
  done: boolean;
}

interface Queue {
  job: Omit<Job, 'items'>;
  items: Item[];
}

/** The item value of a job kind, e.g. Uint8Array for image-embed. */
export type ItemOf<K extends JobKind> = Extract<Job, { kind: K }>['items'][number];
/** What a job of kind K needs besides its items (generation params). */
export type JobExtras<K extends JobKind> = Omit<Extract<Job, { kind: K }>, 'items' | 'kind'>;

/** A result and the model version that produced it. */
export interface Served<T> {
  value: T;
  version: string;
}

export class MicroBatcher {
  private readonly queues = new Map<string, Queue>();
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  onBatch: ((e: BatchEvent) => void) | undefined;
  onDepth: ((depth: number) => void) | undefined;

  constructor(
    private readonly options: BatcherOptions,
    /** The worker batches go to now (the hot-swapped one once a swap completes). */
    private readonly target: () => ModelWorker | undefined,
  ) {}

  /**
   * Queues `values` as items of one job kind, all or none (503 when the queue cannot take them all),
   * and resolves with their values in order; an item's own failure rejects with its HttpError.
   */
  submit<K extends JobKind>(kind: K, values: ItemOf<K>[], extras: JobExtras<K>): Promise<Served<JobValues[K]>[]> {
    if (this.queued + values.length > this.options.queueLimit) {
      return Promise.reject(new HttpError(503, 'overloaded', `the request queue is full (${this.options.queueLimit} items); retry shortly`, 1));
    }
    const key = `${kind}:${JSON.stringify(extras)}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { job: { kind, ...extras } as Omit<Job, 'items'>, items: [] };
      this.queues.set(key, queue);
    }
    const q = queue;
    const promises = values.map(
      (value) =>
        new Promise<Served<JobValues[K]>>((resolve, reject) => {
          const item: Item = {
            value,
            enqueued: Date.now(),
            done: false,
            settle: (r, version = '') => {
              if (item.done) return;
              item.done = true;
              clearTimeout(deadline);
              if (r instanceof Error) reject(r);
              else if (r.ok) resolve({ value: r.value as JobValues[K], version });
              else reject(new HttpError(r.status, r.code, r.message));
            },
          };
          const deadline = setTimeout(() => {
            const at = q.items.indexOf(item);
            if (at >= 0) {
              q.items.splice(at, 1);
              this.setDepth(this.queued - 1);
            }
            item.settle(new HttpError(503, 'timeout', `the request did not finish within ${this.options.timeoutMs} ms; the server is busy, retry shortly`, 1));
          }, this.options.timeoutMs);
          q.items.push(item);
        }),
    );
    this.setDepth(this.queued + values.length);
    this.pump();
    return Promise.all(promises);
  }

  private setDepth(depth: number): void {
    this.queued = depth;
    this.onDepth?.(depth);
  }

  /** Sends the next batch when the worker is free and a queue is full or has waited long enough. */
  pump(): void {
    const worker = this.target();
    if (!worker || worker.busy || this.queued === 0) return;
    let oldest: Queue | undefined;
    for (const q of this.queues.values()) {
      if (q.items.length > 0 && (!oldest || q.items[0]!.enqueued < oldest.items[0]!.enqueued)) oldest = q;
    }
    if (!oldest) return;
    const waited = Date.now() - oldest.items[0]!.enqueued;
    if (oldest.items.length < this.options.maxBatch && waited < this.options.maxWaitMs) {
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.options.maxWaitMs - waited);
      }
      return;
    }
    const items = oldest.items.splice(0, this.options.maxBatch);
    this.setDepth(this.queued - items.length);
    const job = { ...oldest.job, items: items.map((i) => i.value) } as Job;
    const version = worker.info?.version ?? '';
    void worker.run(job).then(
      ({ results, seconds }) => {
        items.forEach((item, i) => item.settle(results[i]!, version));
        this.onBatch?.({ kind: job.kind, size: items.length, seconds, version });
      },
      (err: Error) => {
        for (const item of items) item.settle(new HttpError(500, 'inference_failed', `inference failed: ${err.message}`));
      },
    ).finally(() => this.pump());
    // Another batch may be ready for a worker that is free (after a swap, the new one).
    this.pump();
  }

  /** Fails every queued item (the server is stopping without a model). */
  rejectAll(err: HttpError): void {
    for (const q of this.queues.values()) for (const item of q.items.splice(0)) item.settle(err);
    this.setDepth(0);
  }
}
