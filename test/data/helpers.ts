import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const fixtures = join(packageRoot, 'test', 'fixtures');
export const photos = join(fixtures, 'photos');
export const dataFixtures = join(fixtures, 'data');

/**
 * A temporary data folder: `images` maps a name to a photo fixture to copy, or to 'truncated:<photo>'
 * for the photo's first 3,000 bytes (a JPEG cut short, as a failed download leaves it); `files` are
 * written as given (objects as JSON).
 */
export function dataDir(images: Record<string, string>, files: Record<string, string | object> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dlip-data-'));
  for (const [name, from] of Object.entries(images)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    if (from.startsWith('truncated:')) writeFileSync(join(dir, name), readFileSync(join(photos, from.slice('truncated:'.length))).subarray(0, 3000));
    else copyFileSync(join(photos, from), join(dir, name));
  }
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 1));
  }
  return dir;
}

/** A dataset.json of `splits`, with any other top-level fields. */
export function manifest(splits: object, extra: object = {}): object {
  return { format: 'dlip-dataset', version: 1, name: 'test', ...extra, splits };
}
