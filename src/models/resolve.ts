// Turns what a user names on the command line (a preset, a model folder, a config file) into a config.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseBlipConfig } from './config.js';
import type { BlipConfig } from './config.js';
import { isPreset, listPresets, loadPreset } from './presets.js';

export interface ResolvedConfig {
  config: BlipConfig;
  kind: 'preset' | 'folder' | 'file';
  /** The preset name or path it came from. */
  source: string;
}

export function resolveConfig(spec: string): ResolvedConfig {
  if (isPreset(spec)) return { config: loadPreset(spec), kind: 'preset', source: spec };
  if (existsSync(spec)) {
    const isDir = statSync(spec).isDirectory();
    const path = isDir ? join(spec, 'config.json') : spec;
    if (!existsSync(path)) throw new Error(`${spec}: folder has no config.json`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
    }
    return { config: parseBlipConfig(raw, path), kind: isDir ? 'folder' : 'file', source: spec };
  }
  throw new Error(`"${spec}" is neither a preset (${listPresets().join(', ')}) nor an existing folder or config file`);
}
