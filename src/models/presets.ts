// Named model sizes shipped as JSON files in presets/ (like open_clip's model_configs): adding a
// size means adding a file.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { presetsDir } from '../paths.js';
import { parseBlipConfig } from './config.js';
import type { BlipConfig } from './config.js';

export function listPresets(): string[] {
  return readdirSync(presetsDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

export function isPreset(name: string): boolean {
  return existsSync(join(presetsDir, `${name}.json`));
}

export function loadPreset(name: string): BlipConfig {
  if (!isPreset(name)) throw new Error(`unknown preset "${name}"; available: ${listPresets().join(', ')}`);
  const path = join(presetsDir, `${name}.json`);
  return parseBlipConfig(JSON.parse(readFileSync(path, 'utf8')), path);
}
