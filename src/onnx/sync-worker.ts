// The worker side of SyncOnnxRunner: holds the onnxruntime sessions and answers one request at a time
// on its port, then wakes the waiting caller through the shared flag.
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { OnnxSession } from './session.js';
import type { HostTensor } from './session.js';

interface WorkerInput {
  graphs: Record<string, Uint8Array | string>;
  threads?: number;
  flag: SharedArrayBuffer;
  port: MessagePort;
}

const { graphs, threads, flag, port } = workerData as WorkerInput;
const signal = new Int32Array(flag);

function reply(message: unknown, transfer: ArrayBuffer[] = []): void {
  try {
    port.postMessage(message, [...new Set(transfer)]);
  } catch {
    port.postMessage(message); // a buffer that cannot move is copied instead
  }
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

const sessions = new Map<string, OnnxSession>();
try {
  for (const [name, model] of Object.entries(graphs)) sessions.set(name, await OnnxSession.open(model, { threads }, typeof model === 'string' ? model : name));
  reply({ ok: true });
} catch (err) {
  reply({ ok: false, error: (err as Error).message });
}

port.on('message', (request: { graph: string; feeds: Record<string, HostTensor> }) => {
  const session = sessions.get(request.graph);
  if (!session) {
    reply({ ok: false, error: `no graph "${request.graph}" loaded; have ${[...sessions.keys()].join(', ')}` });
    return;
  }
  session.run(request.feeds).then(
    // The outputs' buffers move to the caller instead of being copied (logits and caches are megabytes a step).
    (out) => reply({ ok: true, out }, Object.values(out).map((t) => t.data.buffer as ArrayBuffer)),
    (err: Error) => reply({ ok: false, error: err.message }),
  );
});
