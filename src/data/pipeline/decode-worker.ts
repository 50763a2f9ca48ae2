// Worker thread body: decodes images on request and sends back CHW float32 pixels (transferred, not copied).
import { parentPort } from 'node:worker_threads';
import { runDecodeJob, type DecodeJob } from './decode-job.js';

if (!parentPort) throw new Error('decode-worker.js must run as a worker thread');
const port = parentPort;

port.on('message', async ({ id, job }: { id: number; job: DecodeJob }) => {
  try {
    const data = await runDecodeJob(job);
    port.postMessage({ id, data }, [data.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
