// Decode + resize (+ normalise, + batch to tensors) throughput of the data pipeline at 224 and 384 px,
// against what a training step consumes at the same sizes: forward + backward of dlip-small's image
// tower alone (a lower bound on a real step's time, so an upper bound on what it consumes).
// Usage: node dist/bench/data-throughput.js [--images N] [--runs R]
// Inputs: a COCO-sized (640×427) JPEG made from a shipped test photo, and built-in world PNGs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { activeBackend, initBackend, tf } from '../src/engine/backend.js';
import { loadPreset } from '../src/models/presets.js';
import { VisionModel } from '../src/models/vision.js';
import { initParameters } from '../src/nn/init.js';
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

  await initBackend(); // the training backend (native when built)
  const batch = 8;
  for (const size of [224, 384]) {
    const tower = new VisionModel({ ...loadPreset('dlip-small').vision_config, image_size: size });
    initParameters(tower, 0);
    const variables = [...tower.namedParameters().values()].map((p) => p.value);
    const pixels = tf.randomNormal([batch, 3, size, size]);
    const times: number[] = [];
    for (let r = 0; r < RUNS + 1; r++) {
      const start = performance.now();
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tower.forward(pixels).lastHiddenState) as tf.Scalar, variables);
        value.dataSync();
        tf.dispose(Object.values(grads));
      });
      if (r > 0) times.push(performance.now() - start); // the first run warms up
    }
    times.sort((a, b) => a - b);
    const consumed = batch / (times[Math.floor(times.length / 2)]! / 1000);
    console.log(`training step, dlip-small image tower fwd+bwd [${activeBackend()}] | ${size} | consumes ${consumed.toFixed(1)} images/s`);
    pixels.dispose();
    tower.dispose();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
