// The worker side of SyncOnnxRunner: holds the onnxruntime sessions and the decoder states of running
// generations, answers one request at a time on its port, then wakes the waiting caller through the
// shared flag.
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { DecoderState } from './decoder-state.js';
import { OnnxSession } from './session.js';
import type { Reply, Request } from './sync-runner.js';

interface WorkerInput {
  graphs: Record<string, Uint8Array | string>;
  threads?: number;
  flag: SharedArrayBuffer;
  port: MessagePort;
}

const { graphs, threads, flag, port } = workerData as WorkerInput;
const signal = new Int32Array(flag);

function reply(message: Reply, transfer: ArrayBuffer[] = []): void {
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

function session(graph: string): OnnxSession {
  const s = sessions.get(graph);
  if (!s) throw new Error(`no graph "${graph}" loaded; have ${[...sessions.keys()].join(', ')}`);
  return s;
}

/** Open generations by id, each with the decoder graph it runs. */
const decoders = new Map<number, { state: DecoderState; graph: string }>();

async function answer(request: Request): Promise<void> {
  switch (request.kind) {
    case 'run': {
      const out = await session(request.graph).run(request.feeds);
      // The outputs' buffers move to the caller instead of being copied (logits are megabytes).
      reply({ ok: true, out }, Object.values(out).map((t) => t.data.buffer as ArrayBuffer));
      return;
    }
    case 'open': {
      session(request.decoderGraph); // a missing decoder graph fails here, not at the first step
      const cross: Record<string, { data: Float32Array | BigInt64Array; dims: readonly number[] }> = await session(request.crossGraph).run({ encoder_hidden_states: request.states });
      if (request.mask) cross.encoder_attention_mask = request.mask;
      decoders.set(request.id, { state: new DecoderState(cross, request.layout), graph: request.decoderGraph });
      reply({ ok: true });
      return;
    }
    case 'decode': {
      const decoder = decoders.get(request.id);
      if (!decoder) throw new Error(`no decoder state ${request.id} (closed, or dropped when a step failed)`);
      try {
        if (request.rows) decoder.state.begin(request.rows);
        else decoder.state.select(request.parents!);
        const out = await session(decoder.graph).run(decoder.state.feeds(request.ids, request.count));
        const logits = decoder.state.absorb(out, request.count);
        // Only the logits go back; the present.* outputs stay as the next step's past.
        reply({ ok: true, out: { logits } }, [logits.data.buffer as ArrayBuffer]);
      } catch (err) {
        // A half-applied step leaves the cache inconsistent: drop it rather than continue from it.
        decoders.delete(request.id);
        throw err;
      }
      return;
    }
    case 'close':
      decoders.delete(request.id);
      reply({ ok: true });
      return;
    case 'count':
      reply({ ok: true, open: decoders.size });
  }
}

port.on('message', (request: Request) => {
  answer(request).catch((err: Error) => reply({ ok: false, error: err.message }));
});
