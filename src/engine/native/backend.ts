// The 'native' tfjs backend: the cpu backend's storage and kernels, with the hot kernels replaced by
// C/OpenBLAS ones (kernels.ts) and float32 buffers recycled instead of allocated per op.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs';
import type { NativeAddon } from './addon.js';
import { nativeKernels } from './kernels.js';

export const NATIVE_BACKEND = 'native';

const DEFAULT_POOL_MB = 1024;

/**
 * Float32Arrays this backend allocated are kept, once their tensor is freed, in per-length free
 * lists and handed out again: a training step repeats the same shapes, so after the first step
 * almost no op allocates (and zero-fills) memory. Arrays the user gave (tf.tensor(data)) are never
 * recycled, and reads of recycled arrays return copies so a `dataSync()` result stays valid.
 */
export class NativeBackend extends MathBackendCPU {
  readonly addon: NativeAddon;
  private readonly free = new Map<number, Float32Array[]>();
  private readonly owned = new WeakSet<Float32Array>();
  private pooledBytes = 0;
  private readonly poolLimit: number;

  constructor(addon: NativeAddon) {
    super();
    this.addon = addon;
    // The cpu backend prints an advert for tfjs-node on its first write; not applicable here.
    (this as unknown as { firstUse: boolean }).firstUse = false;
    const mb = Number(process.env.DLIP_POOL_MB ?? DEFAULT_POOL_MB);
    this.poolLimit = (Number.isFinite(mb) && mb >= 0 ? mb : DEFAULT_POOL_MB) * 2 ** 20;
  }

  /** An uninitialised float32 array of n elements, recycled when possible. */
  alloc(n: number): Float32Array {
    const reused = this.free.get(n)?.pop();
    if (reused) {
      this.pooledBytes -= reused.byteLength;
      return reused;
    }
    const fresh = new Float32Array(n);
    this.owned.add(fresh);
    return fresh;
  }

  /** A float32 output tensor over a recycled buffer; the caller fills every element. */
  output(shape: number[]): { info: tf.TensorInfo; values: Float32Array } {
    const values = this.alloc(shape.reduce((a, b) => a * b, 1));
    return { info: this.makeTensorInfo(shape, 'float32', values), values };
  }

  /**
   * The float32 storage of a tensor, without copying. A few cpu kernels store float32 results in
   * other array types (e.g. a cast from bool); those are converted once, in place.
   */
  f32(t: tf.TensorInfo): Float32Array {
    const entry = this.data.get(t.dataId);
    if (!(entry.values instanceof Float32Array)) entry.values = Float32Array.from(entry.values as ArrayLike<number>);
    return entry.values as Float32Array;
  }

  override disposeData(dataId: object, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const freed = super.disposeData(dataId, force);
    if (freed && values instanceof Float32Array) this.recycle(values);
    return freed;
  }

  /** Returns an array from alloc() that no tensor holds (a kernel's scratch space) to the pool. */
  recycle(values: Float32Array): void {
    if (!this.owned.has(values)) return;
    if (this.pooledBytes + values.byteLength > this.poolLimit) return;
    let list = this.free.get(values.length);
    if (!list) this.free.set(values.length, (list = []));
    list.push(values);
    this.pooledBytes += values.byteLength;
  }

  override readSync(dataId: object): tf.BackendValues {
    const values = super.readSync(dataId);
    return values instanceof Float32Array && this.owned.has(values) ? values.slice() : values;
  }

  /** Never recycle this array: something outside the tensor that owns it keeps a reference. */
  disown(values: Float32Array): void {
    this.owned.delete(values);
  }

  /** Bytes held for reuse (not in any tensor). */
  poolBytes(): number {
    return this.pooledBytes;
  }

  override dispose(): void {
    this.free.clear();
    this.pooledBytes = 0;
    super.dispose();
  }
}

let registered = false;

/**
 * Registers 'native': every cpu kernel, then the native ones over them. Priority 0 leaves the
 * choice to backend.ts, which asks for it by name.
 */
export function registerNativeBackend(addon: NativeAddon): void {
  if (registered) return;
  registered = true;
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(addon), 0);
  const overrides = new Map(nativeKernels().map((k) => [k.kernelName, k]));
  const cpuNames = new Set(tf.getKernelsForBackend('cpu').map((k) => k.kernelName));
  // A misspelt kernel name would silently leave the cpu kernel in place.
  for (const name of overrides.keys()) {
    if (!name.startsWith('Dlip') && !cpuNames.has(name)) throw new Error(`native kernel ${name} overrides no tfjs kernel`);
  }
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (!overrides.has(config.kernelName)) tf.registerKernel({ ...config, backendName: NATIVE_BACKEND });
  }
  for (const config of overrides.values()) tf.registerKernel({ ...config, backendName: NATIVE_BACKEND });
}
