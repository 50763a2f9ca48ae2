// Which model serves now, and swapping it without dropping a request: the new version is loaded and
// warmed up in a worker thread of its own while the old one keeps serving; the gallery is re-embedded
// with it; then new batches go to it, and the old worker finishes its batch in flight and stops. If
// the new version fails to load, warm up or re-embed, the old one simply goes on.
import { HttpError } from './errors.js';
import type { Gallery } from './gallery/gallery.js';
import { ModelWorker } from './model-worker.js';
import type { ModelInfo, Runtime } from './protocol.js';

export interface SwapEvent {
  result: 'ok' | 'failed';
  from?: ModelInfo;
  to?: ModelInfo;
  error?: string;
  seconds: number;
}

export class ModelHost {
  private current: ModelWorker | undefined;
  private swapping = false;
  onSwap: ((e: SwapEvent) => void) | undefined;
  /** A batch can go to the new worker (called after a switch). */
  onSwitch: (() => void) | undefined;
  /** The worker died on its own (a native crash, out of memory). */
  onCrash: ((err: Error, spec: string) => void) | undefined;

  constructor(
    private readonly backend: string | undefined,
    /** Every version, the first and each swapped-to, runs on it. */
    private readonly runtime: Runtime,
    private readonly gallery: Gallery | undefined,
  ) {}

  get worker(): ModelWorker | undefined {
    return this.current;
  }

  get info(): ModelInfo | undefined {
    return this.current?.info;
  }

  /** Loads the first model (and brings the gallery to its embeddings). */
  async start(spec: string): Promise<ModelInfo> {
    const worker = await this.load(spec);
    try {
      await this.adoptGallery(worker, () => this.use(worker));
    } catch (err) {
      await worker.close();
      throw err;
    }
    return worker.info!;
  }

  private async load(spec: string): Promise<ModelWorker> {
    const worker = await ModelWorker.start(spec, this.backend, this.runtime);
    if (this.gallery && !worker.info!.capabilities.includes('embed')) {
      await worker.close();
      throw new Error(`${spec} is a ${worker.info!.architecture}: the gallery needs image-text embeddings (BlipForImageTextRetrieval or BlipForPreTraining)`);
    }
    return worker;
  }

  private async adoptGallery(worker: ModelWorker, commit: () => void): Promise<void> {
    if (!this.gallery) return commit();
    const info = worker.info!;
    await this.gallery.adopt(info.version, info.embeddingDim, async (images) => {
      const { results } = await worker.run({ kind: 'image-embed', items: images });
      return results.map((r, i) => {
        if (!r.ok) throw new Error(`re-embedding stored gallery image ${i} failed: ${r.message}`);
        return r.value as Float32Array;
      });
    }, commit);
  }

  private use(worker: ModelWorker): void {
    this.current = worker;
    worker.onExit = (err) => {
      if (this.current === worker) this.current = undefined;
      this.onCrash?.(err, worker.info!.spec);
    };
    this.onSwitch?.();
  }

  /** Swaps to `spec`; on any failure the serving version stays and the error says why. */
  async swap(spec: string): Promise<{ from: ModelInfo | undefined; to: ModelInfo }> {
    if (this.swapping) throw new HttpError(409, 'swap_in_progress', 'a model swap is already in progress; try again when it has finished');
    this.swapping = true;
    const started = performance.now();
    const from = this.current?.info;
    try {
      let next: ModelWorker;
      try {
        next = await this.load(spec);
      } catch (err) {
        throw new HttpError(400, 'model_rejected', `${(err as Error).message}; still serving ${from ? `${from.spec} (version ${from.version})` : 'nothing'}`);
      }
      const old = this.current;
      try {
        await this.adoptGallery(next, () => this.use(next));
      } catch (err) {
        await next.close();
        throw new HttpError(400, 'model_rejected', `re-embedding the gallery with ${spec} failed (${(err as Error).message}); still serving ${from?.spec}`);
      }
      if (old) {
        old.onExit = undefined;
        void old.close();
      }
      this.onSwap?.({ result: 'ok', from, to: next.info, seconds: (performance.now() - started) / 1000 });
      return { from, to: next.info! };
    } catch (err) {
      this.onSwap?.({ result: 'failed', from, error: (err as Error).message, seconds: (performance.now() - started) / 1000 });
      throw err;
    } finally {
      this.swapping = false;
    }
  }

  async close(): Promise<void> {
    const worker = this.current;
    this.current = undefined;
    if (worker) {
      worker.onExit = undefined;
      await worker.close();
    }
  }
}
