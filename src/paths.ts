import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

function findPackageRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${start}`);
    dir = parent;
  }
  return dir;
}

/** The installed package's root folder (holds presets/ and assets/), whether run from src or dist. */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
export const presetsDir = join(packageRoot, 'presets');
export const assetsDir = join(packageRoot, 'assets');
export const modelsDir = join(packageRoot, 'models');
