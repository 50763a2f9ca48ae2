// The HTTP side's handle on one model worker thread: start it, load a model, send it batches.
import { Worker } from 'node:worker_threads';
import { loadAddon } from '../engine/native/addon.js';
import type { FromWorker, ItemResult, Job, ModelInfo, Runtime, ToWorker } from './protocol.js';

/** How long close() waits for the model to be disposed before ending the thread regardless. */
const DISPOSE_TIMEOUT_MS = 5000;

interface InFlight {
  resolve: (r: { results: ItemResult<unknown>[]; seconds: number }) => void;
  reject: (err: Error) => void;
}

export class ModelWorker {
  private readonly worker: Worker;
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 0;
  private exited: Error | undefined;
  private loaded: ((msg: FromWorker) => void) | undefined;
  /** Called once if the thread dies on its own (not through close()). */
  onExit: ((err: Error) => void) | undefined;
  info: ModelInfo | undefined;
  private closing = false;
  /** Resolves whoever waits for the batch in flight to end (close()). */
  private idle: (() => void) | undefined;
  /** Resolves close() once the thread has disposed of its model. */
  private disposed: (() => void) | undefined;

  private constructor(backend: string | undefined) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { backend } });
    this.worker.on('message', (msg: FromWorker) => this.receive(msg));
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => this.die(new Error(`the model worker exited with code ${code}`)));
  }

  /** Starts a thread and loads `spec` in it on `runtime` (with warm-up); rejects with the reason it cannot serve. */
  static async start(spec: string, backend: string | undefined, runtime: Runtime): Promise<ModelWorker> {
    // The native addon, once loaded here, stays loaded for the process: when the last thread that
    // loaded it exits, Node unloads it, and OpenBLAS/OpenMP threads still parked in it segfault.
    if (backend !== 'wasm' && backend !== 'cpu') loadAddon();
    const w = new ModelWorker(backend);
    const reply = await new Promise<FromWorker>((resolve) => {
      w.loaded = resolve;
      w.post({ type: 'load', spec, runtime });
    });
    if (reply.type !== 'loaded') {
      await w.close();
      throw new Error(reply.type === 'load-failed' ? reply.message : 'the model worker stopped while loading');
    }
    w.info = reply.info;
    return w;
  }

  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  run(job: Job): Promise<{ results: ItemResult<unknown>[]; seconds: number }> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.inFlight.set(id, { resolve, reject });
      this.post({ type: 'run', id, job });
    });
  }

  private post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  private receive(msg: FromWorker): void {
    if (msg.type === 'loaded' || msg.type === 'load-failed') {
      this.loaded?.(msg);
      this.loaded = undefined;
      return;
    }
    if (msg.type === 'closed') {
      this.disposed?.();
      return;
    }
    const pending = this.inFlight.get(msg.id);
    if (!pending) return;
    this.inFlight.delete(msg.id);
    if (msg.type === 'result') pending.resolve({ results: msg.results, seconds: msg.seconds });
    else pending.reject(new Error(msg.message));
    if (!this.busy) this.idle?.();
  }

  private die(err: Error): void {
    if (this.exited) return;
    this.exited = err;
    for (const p of this.inFlight.values()) p.reject(err);
    this.inFlight.clear();
    this.idle?.();
    this.disposed?.();
    this.loaded?.({ type: 'load-failed', message: err.message });
    this.loaded = undefined;
    if (!this.closing) this.onExit?.(err);
  }

  /** Waits for the batch in flight (if any), lets the thread dispose of its model, then ends it. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.busy) await new Promise<void>((r) => (this.idle = r));
    if (!this.exited) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        this.disposed = r;
        timer = setTimeout(r, DISPOSE_TIMEOUT_MS);
        this.post({ type: 'close' });
      });
      clearTimeout(timer);
    }
    await this.worker.terminate();
  }
}
