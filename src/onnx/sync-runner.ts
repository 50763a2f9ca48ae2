// onnxruntime-node only runs asynchronously; dlip's evaluation and searches call models synchronously.
// This runner keeps the sessions in a worker thread and blocks the caller on a shared flag until the
// worker has answered (Atomics.wait + receiveMessageOnPort), so a graph run looks like a function call.
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { HostTensor } from './session.js';

/** How long one run may take before the caller gives up (a crashed worker never answers). */
const TIMEOUT_MS = 10 * 60 * 1000;

type Reply = { ok: true; out?: Record<string, { data: Float32Array; dims: number[] }> } | { ok: false; error: string };

export class SyncOnnxRunner {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;

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

  /** Runs graph `graph` on `feeds`; every output comes back as float32 data with its dims. */
  run(graph: string, feeds: Record<string, HostTensor>): Record<string, { data: Float32Array; dims: number[] }> {
    this.port.postMessage({ graph, feeds });
    return this.await(`running ${graph}`).out!;
  }

  async close(): Promise<void> {
    this.port.close();
    await this.worker.terminate();
  }
}
