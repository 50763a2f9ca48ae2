// Seeded, reproducible initialisation: the same seed gives the same weights on every backend,
// because values are drawn here in JavaScript and not by a backend's own random kernels.
import type { Module } from './module.js';

/** mulberry32: a small, well-tested 32-bit PRNG; plenty for weight init. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box-Muller). */
export function fillNormal(out: Float32Array, std: number, rng: () => number): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** BLIP's and BERT's std for weights and embeddings (HF `initializer_range`). */
export const DEFAULT_INITIALIZER_RANGE = 0.02;

/** The std a model asks for: its config's `initializer_range` (every BLIP model has one), else 0.02. */
function initializerRangeOf(model: Module): number {
  const range = (model as { config?: { initializer_range?: unknown } }).config?.initializer_range;
  return typeof range === 'number' ? range : DEFAULT_INITIALIZER_RANGE;
}

/**
 * Gives every parameter that has no value yet its declared initial value, normal weights drawn with
 * std `initializerRange` (default: the model config's). Parameters are visited in name order so the
 * draws do not depend on construction order.
 */
export function initParameters(model: Module, seed: number, initializerRange = initializerRangeOf(model)): void {
  const rng = createRng(seed);
  const params = [...model.namedParameters()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, p] of params) {
    const data = new Float32Array(p.size);
    const init = p.init;
    if (init.kind === 'normal') fillNormal(data, initializerRange, rng);
    else if (init.kind === 'ones') data.fill(1);
    else if (init.kind === 'constant') data.fill(init.value);
    if (!p.materialized) p.assign(data);
  }
}
