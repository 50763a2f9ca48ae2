// Putting named tensors into a model: every mismatch is reported at once, by key and shape.
import type { Module } from '../nn/module.js';
import { interpolatePositionEmbedding } from '../models/positions.js';
import type { LoadedTensor } from './safetensors.js';

const POSITION_KEY = /(^|\.)vision_model\.embeddings\.position_embedding$/;
/** Buffers older HF checkpoints stored beside the weights; HF itself ignores them on load. */
const IGNORED_BUFFER = /(^|\.)embeddings\.position_ids$/;

export interface ApplyWeightsOptions {
  /** Accept missing keys (they keep their initial values) and ignore unexpected ones. */
  partial?: boolean;
  /** Names the source in errors. */
  source?: string;
}

export interface ApplyWeightsReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  /** Keys resized on the way in (position grids). */
  resized: string[];
  /** Stored buffers that are not parameters (position_ids). */
  ignored: string[];
}

const fmt = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/**
 * Assigns `tensors` to the model's parameters by Hugging Face key. Position embeddings of another
 * grid size are bicubically resized. Throws one error listing every missing, unexpected and
 * mis-shaped key unless `partial` (mis-shaped keys always fail).
 */
export function applyWeights(model: Module, tensors: Map<string, LoadedTensor>, options: ApplyWeightsOptions = {}): ApplyWeightsReport {
  const params = model.namedParameters();
  const aliases = model.namedAliases();
  const report: ApplyWeightsReport = { loaded: [], missing: [], unexpected: [], resized: [], ignored: [] };
  const misshaped: string[] = [];
  const values = new Map<string, Float32Array>();
  for (const [key, tensor] of tensors) {
    const name = params.has(key) ? key : aliases.get(key);
    if (!name && IGNORED_BUFFER.test(key)) {
      report.ignored.push(key);
      continue;
    }
    if (!name) {
      report.unexpected.push(key);
      continue;
    }
    if (name !== key && tensors.has(name)) continue; // the canonical key carries the value
    const p = params.get(name)!;
    if (tensor.dtype !== 'F32') {
      misshaped.push(`${key}: dtype ${tensor.dtype}, expected a float tensor`);
      continue;
    }
    let data = tensor.data;
    if (tensor.shape.join() !== p.shape.join()) {
      const width = p.shape[2]!;
      const canResize = POSITION_KEY.test(name) && tensor.shape.length === 3 && tensor.shape[2] === width;
      if (!canResize) {
        misshaped.push(`${key}: checkpoint ${fmt(tensor.shape)}, model ${fmt(p.shape)}`);
        continue;
      }
      data = interpolatePositionEmbedding(data, width, Math.round(Math.sqrt(p.shape[1]! - 1)));
      report.resized.push(`${key}: ${fmt(tensor.shape)} → ${fmt(p.shape)}`);
    }
    values.set(name, data);
  }
  for (const name of params.keys()) if (!values.has(name)) report.missing.push(name);

  const problems: string[] = [];
  if (misshaped.length) problems.push(`mis-shaped (${misshaped.length}):\n  ${misshaped.join('\n  ')}`);
  if (!options.partial) {
    if (report.missing.length) {
      problems.push(`missing (${report.missing.length}):\n  ${report.missing.map((k) => `${k} ${fmt(params.get(k)!.shape)}`).join('\n  ')}`);
    }
    if (report.unexpected.length) {
      problems.push(`unexpected (${report.unexpected.length}):\n  ${report.unexpected.map((k) => `${k} ${fmt(tensors.get(k)!.shape)}`).join('\n  ')}`);
    }
  }
  if (problems.length) {
    // No command has a flag to load a subset on purpose: the hint names what a user can check and what code can pass.
    const hint = options.partial ? '' : '\n(check that config.json describes these weights; code can load a subset on purpose with { partial: true })';
    throw new Error(`weights${options.source ? ` from ${options.source}` : ''} do not fit the model:\n${problems.join('\n')}${hint}`);
  }
  for (const [name, data] of values) {
    params.get(name)!.assign(data);
    report.loaded.push(name);
  }
  return report;
}
