// onnxruntime-node only runs asynchronously; dlip's evaluation and searches call models synchronously.
// This runner keeps the sessions in a worker thread and blocks the caller on a shared flag until the
// worker has answered (Atomics.wait + receiveMessageOnPort), so a graph run looks like a function call.
// The worker also keeps the key/value caches of cached generations (decoder-state.ts), so a decoder
// step sends token ids and gets logits back instead of moving the caches across every step.
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { CacheLayout } from './decoder-state.js';
import type { HostTensor } from './session.js';

/** How long one run may take before the caller gives up (a crashed worker never answers). */
const TIMEOUT_MS = 10 * 60 * 1000;

type Output = { data: Float32Array; dims: number[] };

/** What the caller asks the worker (sync-worker.ts). */
export type Request =
  | { kind: 'run'; graph: string; feeds: Record<string, HostTensor> }
  /** A generation `id`: cross keys/values of `states` by crossGraph, kept for decoderGraph's steps (with `mask` as encoder_attention_mask). */
  | { kind: 'open'; id: number; crossGraph: string; decoderGraph: string; states: HostTensor; mask?: HostTensor; layout: CacheLayout }
  /** A run of generation `id` on `ids` (rows × count): new sequences over inputs `rows`, or rows continuing cached rows `parents`. */
  | { kind: 'decode'; id: number; ids: Int32Array; count: number; rows?: number[]; parents?: number[] }
  | { kind: 'close'; id: number }
  | { kind: 'count' };

export type Reply = { ok: true; out?: Record<string, Output>; open?: number } | { ok: false; error: string };

export class SyncOnnxRunner {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private nextDecoder = 0;

  /** `graphs`: name → .onnx bytes or path. Blocks until every graph is loaded. */
  constructor(graphs: Record<string, Uint8Array | string>, options: { threads?: number } = {}) {
    const flag = new SharedArrayBuffer(4);
    this.signal = new Int32Array(flag);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./sync-worker.js', import.meta.url), { workerData: { graphs, threads: options.threads, flag, port: port2 }, transferList: [port2] });
    this.worker.unref();
    this.await('loading the ONNX graphs');
  }

  private await(what: string): Reply & { ok: true } {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const message = receiveMessageOnPort(this.port);
      if (message) {
        const reply = message.message as Reply;
        if (!reply.ok) throw new Error(`onnxruntime, ${what}: ${reply.error}`);
        return reply;
      }
      // The worker posts, then raises the flag: a raised flag without a message is the previous
      // answer's, or this one's about to be read. Lower it and look again before sleeping on it.
      if (Atomics.compareExchange(this.signal, 0, 1, 0) === 1) continue;
      Atomics.wait(this.signal, 0, 0, 50);
      if (Date.now() > deadline) throw new Error(`onnxruntime, ${what}: no answer after ${TIMEOUT_MS / 1000} s (its worker thread died?)`);
    }
  }

  private ask(request: Request, what: string): Reply & { ok: true } {
    this.port.postMessage(request);
    return this.await(what);
  }

  /** Runs graph `graph` on `feeds`; every output comes back as float32 data with its dims. */
  run(graph: string, feeds: Record<string, HostTensor>): Record<string, Output> {
    return this.ask({ kind: 'run', graph, feeds }, `running ${graph}`).out!;
  }

  /** Opens a generation's decoder state in the worker (see Request 'open'); its id for decode and close. */
  openDecoder(o: Omit<Request & { kind: 'open' }, 'kind' | 'id'>): number {
    const id = this.nextDecoder++;
    this.ask({ kind: 'open', id, ...o }, `running ${o.crossGraph}`);
    return id;
  }

  /** One run of generation `id` (see Request 'decode'): the logits [rows, vocab] of its last position. */
  decode(id: number, graph: string, step: { ids: Int32Array; count: number; rows?: number[]; parents?: number[] }): Output {
    return this.ask({ kind: 'decode', id, ...step }, `running ${graph}`).out!.logits!;
  }

  /** Frees generation `id`'s state (nothing if it is already gone). */
  closeDecoder(id: number): void {
    this.ask({ kind: 'close', id }, 'freeing a decoder state');
  }

  /** How many generations' decoder states the worker holds (each is freed by its decoder's dispose). */
  openDecoders(): number {
    return this.ask({ kind: 'count' }, 'counting decoder states').open!;
  }

  async close(): Promise<void> {
    this.port.close();
    await this.worker.terminate();
  }
}
