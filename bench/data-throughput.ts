// Decode + resize (+ normalise, + batch to tensors) throughput of the data pipeline at 224 and 384 px.
// Usage: node dist/bench/data-throughput.js [--images N] [--runs R]
// Inputs: a COCO-sized (640×427) JPEG made from a shipped test photo, and built-in world PNGs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../src/engine/backend.js';
import { DecodePool, defaultWorkerCount, disposeBatch, loadBatches, synthesizeWorld, openDataset, type Augmentation } from '../src/data/index.js';
import { packageRoot } from '../src/paths.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg('--images', 256);
const RUNS = arg('--runs', 3);

await initBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'dlip-bench-'));
try {
  const jpeg = join(dir, 'photo.jpg');
  await sharp(join(packageRoot, 'test/fixtures/photos/cat.jpg')).resize(640, 427, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(jpeg);
  await synthesizeWorld({ out: join(dir, 'world'), sizes: { train: 64, val: 1, test: 1 }, seed: 0 });
  const world = openDataset(join(dir, 'world')).captions('train').images.map((i) => i.image);
  const sources = { 'COCO-size JPEG 640x427': Array.from({ length: N }, () => jpeg), 'world PNG 32px': Array.from({ length: N }, (_, i) => world[i % world.length]!) };
  const augment: Augmentation = { crop: { scale: [0.5, 1], ratio: [3 / 4, 4 / 3] }, flipProbability: 0.5 };
  const pool = new DecodePool();
  console.log(`${N} images per run, median of ${RUNS} runs, batch 32, ${pool.workers} decode workers (${defaultWorkerCount()} default), Node ${process.version}`);
  console.log('source                   | size | augment | images/s');
  for (const [name, paths] of Object.entries(sources)) {
    for (const size of [224, 384]) {
      for (const aug of [false, true]) {
        const rates: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          const start = performance.now();
          for await (const b of loadBatches(paths, { batchSize: 32, imageSize: size, image: (p) => p, describe: (p) => p, pool, seed: r, augment: aug ? augment : undefined })) disposeBatch(b);
          rates.push(N / ((performance.now() - start) / 1000));
        }
        rates.sort((a, b) => a - b);
        console.log(`${name.padEnd(24)} | ${size}  | ${aug ? 'yes' : 'no '}     | ${rates[Math.floor(RUNS / 2)]!.toFixed(0)}`);
      }
    }
  }
  await pool.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
