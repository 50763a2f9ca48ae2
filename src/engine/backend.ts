// The one place that knows which TensorFlow.js backend runs. Everything else imports `tf` from here.
import * as tf from '@tensorflow/tfjs';
import { BUILD_FIX, loadAddon } from './native/addon.js';
import { NATIVE_BACKEND, NativeBackend, registerNativeBackend } from './native/backend.js';

export { tf };

export const BACKENDS = ['native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** 'native' (C kernels + OpenBLAS, built at install) when it was built; otherwise wasm, with a note. */
export const DEFAULT_BACKEND: BackendName = 'native';

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

let warnedFallback = false;

/**
 * Registers the native backend if its addon loads. When it does not: an explicit request fails with
 * the reason; the default falls back to wasm and says once why and how to fix it.
 */
function resolveNative(explicitly: boolean): BackendName {
  const load = loadAddon();
  if (load.ok) {
    registerNativeBackend(load.addon);
    return NATIVE_BACKEND;
  }
  if (explicitly) throw new Error(`backend "native" is unavailable: ${load.reason}. To fix: ${BUILD_FIX}`);
  if (!warnedFallback) {
    warnedFallback = true;
    console.warn(
      `dlip: using the wasm backend, about 10x slower than native for training, because ${load.reason}. ` +
        `To fix: ${BUILD_FIX}.`,
    );
  }
  return 'wasm';
}

/**
 * Selects and initialises a backend once per process; later calls with the same name are free.
 * Call it before any tensor work (the CLI does it from --backend).
 */
export async function initBackend(explicit?: string): Promise<BackendName> {
  let name = requestedBackend(explicit);
  if (name === 'native') name = resolveNative(Boolean(explicit || process.env.DLIP_BACKEND));
  if (initialised === name) return name;
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm'); // registers the backend
    // The threaded wasm build cannot start its workers under Node (ERR_WORKER_PATH): single thread.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
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

/**
 * A float32 tensor's values, valid until the tensor is disposed. The native backend lends its own
 * storage (dataSync copies it, since a disposed tensor's buffer is reused): a search step reads a
 * [rows, 30,524] logits block this way instead of copying 12 MB into a fresh array each step.
 */
export function borrowValues(t: tf.Tensor): Float32Array {
  const backend = tf.backend();
  if (backend instanceof NativeBackend && t.dtype === 'float32') return backend.f32(t);
  return t.dataSync() as Float32Array;
}

/**
 * A readable error for the wasm backend running out of its 4 GB address space (tfjs-wasm reports it
 * as "memory access out of bounds" or an abort); other errors come back unchanged.
 */
export function explainBackendError(err: unknown, doing: string): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (tf.getBackend() === 'wasm' && /memory access out of bounds|Aborted\(\)|Out of memory|Invalid typed array length/i.test(message)) {
    return new Error(
      `the wasm backend ran out of memory (it addresses at most 4 GB) while ${doing}. Use a smaller batch, ` +
        'or the native backend (apt-get install libopenblas-dev, then npm run build:native).',
    );
  }
  return err;
}
