// The one place that knows which TensorFlow.js backend runs. Everything else imports `tf` from here.
import * as tf from '@tensorflow/tfjs';

export { tf };

export const BACKENDS = ['wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const DEFAULT_BACKEND: BackendName = 'wasm';

let initialised: BackendName | undefined;

function parseBackend(name: string, source: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new Error(`unknown backend "${name}" (from ${source}); choose one of: ${BACKENDS.join(', ')}`);
}

/** The backend asked for: the explicit argument, else DLIP_BACKEND, else the default. */
export function requestedBackend(explicit?: string): BackendName {
  if (explicit) return parseBackend(explicit, '--backend');
  const fromEnv = process.env.DLIP_BACKEND;
  if (fromEnv) return parseBackend(fromEnv, 'DLIP_BACKEND');
  return DEFAULT_BACKEND;
}

/**
 * Selects and initialises a backend once per process; later calls with the same name are free.
 * Call it before any tensor work (the CLI does it from --backend).
 */
export async function initBackend(explicit?: string): Promise<BackendName> {
  const name = requestedBackend(explicit);
  if (initialised === name) return name;
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The threaded wasm build cannot start its workers under Node (ERR_WORKER_PATH): single thread.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    void wasm;
  }
  if (!(await tf.setBackend(name))) throw new Error(`backend "${name}" failed to initialise`);
  await tf.ready();
  initialised = name;
  return name;
}

/** The backend in use, for reports and benchmarks. */
export function activeBackend(): string {
  return tf.getBackend();
}
