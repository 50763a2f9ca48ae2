// Argument checks shared by the distillation losses, so every error names the shape that is wrong.
import type { tf } from '../engine/backend.js';

/** A shape as errors print it: [2,5,384]. */
export const fmt = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Throws unless `x` has rank `rank` ("what" names it, e.g. "lm KD: student states [B, L, W]"). */
export function expectRank(x: tf.Tensor, rank: number, what: string): void {
  if (x.rank !== rank) throw new Error(`${what} must have rank ${rank}, got ${fmt(x.shape)}`);
}

export function expectTemperature(temperature: number, where: string): void {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`${where}: temperature must be a positive number, got ${temperature}`);
}
