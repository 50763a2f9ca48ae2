// Entry point of the model worker thread: one model, one batch at a time, off the HTTP event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../engine/backend.js';
import { ModelRunner } from './runner.js';
import type { FromWorker, ToWorker } from './protocol.js';

const port = parentPort!;
const send = (msg: FromWorker) => {
  // Float32Array results are copied; transferring would detach buffers the runner may still view.
  port.postMessage(msg);
};

let runner: ModelRunner | undefined;

port.on('message', (msg: ToWorker) => {
  void handle(msg);
});

async function handle(msg: ToWorker): Promise<void> {
  if (msg.type === 'load') {
    try {
      await initBackend((workerData as { backend?: string }).backend);
      runner = await ModelRunner.load(msg.spec, msg.runtime);
      send({ type: 'loaded', info: runner.info });
    } catch (err) {
      send({ type: 'load-failed', message: (err as Error).message });
    }
    return;
  }
  if (msg.type === 'close') {
    // Answered even if disposing fails: the thread is ended next either way.
    await runner?.dispose().catch(() => undefined);
    runner = undefined;
    send({ type: 'closed' });
    return;
  }
  const started = performance.now();
  try {
    if (!runner) throw new Error('no model loaded');
    const results = await runner.run(msg.job);
    send({ type: 'result', id: msg.id, results, seconds: (performance.now() - started) / 1000 });
  } catch (err) {
    send({ type: 'job-failed', id: msg.id, message: (err as Error).message });
  }
}
