// A model folder as a delta update sees it: one safetensors weights file, read whole, and the small
// files beside it (config.json, dlip.json, a model card...), compared and carried byte for byte.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readHeader } from '../io/safetensors.js';
import type { SafetensorsHeader } from '../io/safetensors.js';
import { weightFiles } from '../io/checkpoint.js';

export interface ModelFolder {
  dir: string;
  /** The weights file's name inside the folder (model.safetensors). */
  weightsName: string;
  weights: Buffer;
  header: SafetensorsHeader;
  /** Every other top-level file, by name. */
  files: Map<string, Buffer>;
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Reads `dir` whole; sharded weights and sub-folders are refused (a delta covers flat model folders). */
export async function readModelFolder(dir: string): Promise<ModelFolder> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`${dir}: not a model folder (no such folder)`);
  const weightSets = await weightFiles(dir);
  if (weightSets.length !== 1 || weightSets[0]!.keys) {
    throw new Error(`${dir}: sharded weights (model.safetensors.index.json) are not supported by dlip delta; save the model as one model.safetensors`);
  }
  const weightsPath = weightSets[0]!.file;
  const weightsName = basename(weightsPath);
  const header = await readHeader(weightsPath);
  const weights = await readFile(weightsPath);
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) {
    if (name === weightsName) continue;
    const path = join(dir, name);
    const s = await stat(path);
    if (s.isDirectory()) throw new Error(`${path}: dlip delta handles flat model folders; move or remove this sub-folder`);
    if (s.isFile()) files.set(name, await readFile(path));
  }
  return { dir, weightsName, weights, header, files };
}

/** The bytes of tensor `name` in a folder's weights, or undefined when it has none of that name. */
export function tensorBytes(folder: ModelFolder, name: string): Buffer | undefined {
  const e = folder.header.entries.get(name);
  return e && folder.weights.subarray(folder.header.dataStart + e.begin, folder.header.dataStart + e.end);
}
