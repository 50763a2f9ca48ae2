// A pool of decode worker threads. JPEG/PNG decoding runs in libvips threads anyway; the workers
// take the per-pixel JavaScript work (normalisation, CHW layout) off the training thread.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DecodeJob } from './decode-job.js';

interface Pending {
  job: DecodeJob;
  resolve: (data: Float32Array) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

/** Jobs each worker holds at once: one decoding while the next one's file is read. */
const PER_WORKER = 2;

export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export class DecodePool {
  private readonly slots: Slot[];
  private readonly pending = new Map<number, Pending & { slot: Slot; alone: boolean }>();
  private readonly backlog: { id: number; pending: Pending }[] = [];
  /**
   * Jobs that failed among others, to decode again alone. libvips keeps one error buffer per process
   * and every sharp call clears it, so a failure among concurrent decodes can report "Unknown error"
   * or another image's error; alone, it reports its own.
   */
  private readonly retries: { id: number; pending: Pending }[] = [];
  private nextId = 0;
  private failure: Error | undefined;

  constructor(readonly workers: number = defaultWorkerCount()) {
    const url = new URL('./decode-worker.js', import.meta.url);
    this.slots = Array.from({ length: workers }, () => {
      const slot: Slot = { worker: new Worker(url), inFlight: 0 };
      slot.worker.unref();
      slot.worker.on('message', (msg: { id: number; data?: Float32Array; error?: string }) => this.settle(slot, msg));
      slot.worker.on('error', (err) => this.fail(err));
      return slot;
    });
  }

  decode(job: DecodeJob): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.backlog.push({ id: this.nextId++, pending: { job, resolve, reject } });
      this.dispatch();
    });
  }

  private send(slot: Slot, id: number, pending: Pending, alone: boolean): void {
    // A worker with work keeps the process alive; an idle one must not keep it from exiting.
    if (slot.inFlight++ === 0) slot.worker.ref();
    this.pending.set(id, { ...pending, slot, alone });
    slot.worker.postMessage({ id, job: pending.job });
  }

  private dispatch(): void {
    if (this.retries.length > 0) {
      // Nothing else starts until the retries have run, one at a time, each alone.
      if (this.pending.size === 0) {
        const { id, pending } = this.retries.shift()!;
        this.send(this.slots[0]!, id, pending, true);
      }
      return;
    }
    while (this.backlog.length > 0) {
      const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      if (slot.inFlight >= PER_WORKER) return;
      const { id, pending } = this.backlog.shift()!;
      this.send(slot, id, pending, false);
    }
  }

  private settle(slot: Slot, msg: { id: number; data?: Float32Array; error?: string }): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (--slot.inFlight === 0) slot.worker.unref();
    if (msg.data) p.resolve(msg.data);
    else if (p.alone) p.reject(new Error(msg.error ?? 'decode failed'));
    else this.retries.push({ id: msg.id, pending: p });
    this.dispatch();
  }

  private fail(err: Error): void {
    this.failure = new Error(`decode worker crashed: ${err.message}`);
    for (const p of this.pending.values()) p.reject(this.failure);
    for (const b of [...this.backlog.splice(0), ...this.retries.splice(0)]) b.pending.reject(this.failure);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
