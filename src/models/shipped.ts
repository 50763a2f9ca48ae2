// Trained weights shipped with dlip (models/<name>/: config.json, F16 model.safetensors, dlip.json and a
// MODEL.md saying how they were trained), so a clone can distil from a real teacher without training one.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { modelsDir } from '../paths.js';

export function listShippedModels(): string[] {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir)
    .filter((name) => existsSync(join(modelsDir, name, 'config.json')))
    .sort();
}

/** The folder of the shipped model named `name`, or undefined when none is. */
export function shippedModelDir(name: string): string | undefined {
  if (!/^[\w.-]+$/.test(name)) return undefined;
  const dir = join(modelsDir, name);
  return existsSync(join(dir, 'config.json')) ? dir : undefined;
}
