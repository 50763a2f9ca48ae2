// Decoding every image once, ahead of use: `dlip data check` reports the failures, and `dlip eval
// --on-bad-sample skip` leaves them out before scoring (a retrieval or VQA set cannot lose an image
// half-way without misaligning its ground truth).
import { enforcePolicy, type BadSample, type Warn } from '../errors.js';
import type { DecodePool } from './decode-pool.js';

/** Images in flight at once: enough to keep the pool busy, few enough to bound memory. */
const WINDOW = 64;

/** A problem from an item's source ("file: record") and a message. */
function problemAt(source: string, message: string): BadSample {
  const cut = source.indexOf(': ');
  return cut < 0 ? { file: source, record: 'record', message } : { file: source.slice(0, cut), record: source.slice(cut + 2), message };
}

/**
 * Decodes each distinct image once, small (the decode is what can fail, not the size), and returns
 * the failures by image path, as problems naming the image's first item.
 */
export async function undecodableImages<T>(
  items: readonly T[],
  image: (item: T) => string,
  source: (item: T) => string,
  pool: DecodePool,
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, BadSample>> {
  const first = new Map<string, T>();
  for (const item of items) if (!first.has(image(item))) first.set(image(item), item);
  const entries = [...first.entries()];
  const problems = new Map<string, BadSample>();
  let done = 0;
  for (let i = 0; i < entries.length; i += WINDOW) {
    await Promise.all(entries.slice(i, i + WINDOW).map(async ([path, item]) => {
      try {
        await pool.decode({ path, size: 32, flip: false });
      } catch (err) {
        problems.set(path, problemAt(source(item), `cannot decode image ${path}: ${(err as Error).message}`));
      }
      onProgress?.(++done, entries.length);
    }));
  }
  return new Map(entries.flatMap(([path]) => (problems.has(path) ? [[path, problems.get(path)!] as const] : []))); // in item order
}

/** The items whose image decodes; the others are skipped with one warning. */
export async function withoutUndecodable<T>(items: readonly T[], image: (item: T) => string, source: (item: T) => string, pool: DecodePool, what: string, warn?: Warn): Promise<T[]> {
  const problems = await undecodableImages(items, image, source, pool);
  enforcePolicy([...problems.values()], 'skip', what, warn);
  return items.filter((item) => !problems.has(image(item)));
}
