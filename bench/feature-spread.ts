// How alike a freshly initialised model's ITC inputs are: the mean cosine between the CLS features of
// different val images / captions of the built-in world, per layer. Near 1 means ITC starts on a
// plateau (the reason tiny-teacher sets initializer_range 1/sqrt(width) instead of 0.02).
//   node dist/bench/feature-spread.js [--model tiny-teacher] [--initializer-range 0.02] [--count 64]
import { tf, initBackend } from '../src/engine/backend.js';
import { openDataset } from '../src/data/manifest.js';
import { builtinWorld } from '../src/data/world/synth.js';
import { captionPairs } from '../src/data/pipeline/samples.js';
import { disposeBatch, loadBatches } from '../src/data/pipeline/loader.js';
import { defaultTokenizer } from '../src/data/tokenizer.js';
import { createModel, l2Normalize } from '../src/models/blip.js';
import type { BlipForImageTextRetrieval } from '../src/models/blip.js';
import { resolveConfig } from '../src/models/resolve.js';
import { initParameters } from '../src/nn/init.js';
import { argValue } from './util.js';

await initBackend(argValue('--backend'));
const config = resolveConfig(argValue('--model') ?? 'tiny-teacher').config;
const range = Number(argValue('--initializer-range') ?? config.initializer_range);
const count = Number(argValue('--count') ?? 64);
const model = createModel(config, 'BlipForImageTextRetrieval') as BlipForImageTextRetrieval;
initParameters(model, 0, range);

const val = openDataset(await builtinWorld('small', 0)).captions('val');
const firstCaptions = { ...val, images: val.images.slice(0, count).map((img) => ({ ...img, captions: img.captions.slice(0, 1) })) };
const batches = loadBatches(captionPairs(firstCaptions), {
  batchSize: count,
  imageSize: config.vision_config.image_size,
  image: (p) => p.image,
  describe: (p) => `${p.source}: ${p.image}`,
  text: (p) => p.caption,
  tokenizer: defaultTokenizer(),
  maxLength: 32,
  firstToken: 'cls',
});
const batch = (await batches.next()).value!;

/** Mean cosine between the rows of x [N, D], over pairs of different rows. */
const meanOffDiagonalCosine = (x: tf.Tensor): number =>
  tf.tidy(() => {
    const n = x.shape[0]!;
    const cos = tf.matMul(l2Normalize(x), l2Normalize(x), false, true);
    return (tf.sum(cos).dataSync()[0]! - n) / (n * (n - 1));
  });
const cls = (states: tf.Tensor) => states.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]);

const rows: Record<string, number> = {};
tf.tidy(() => {
  const image = model.encodeImage(batch.pixels, { outputHiddenStates: true });
  const text = model.encodeText(batch.inputIds!, batch.attentionMask!, { outputHiddenStates: true });
  image.hiddenStates!.slice(1).forEach((h, i) => (rows[`vision layer ${i + 1} CLS`] = meanOffDiagonalCosine(cls(h))));
  rows['image ITC feature'] = meanOffDiagonalCosine(model.imageProjection(image.lastHiddenState));
  text.hiddenStates!.slice(1).forEach((h, i) => (rows[`text layer ${i + 1} CLS`] = meanOffDiagonalCosine(cls(h))));
  rows['text ITC feature'] = meanOffDiagonalCosine(model.textProjection(text.lastHiddenState));
});
disposeBatch(batch);
console.log(`initializer_range ${range}, ${count} val images and captions: mean cosine between different items`);
for (const [name, cos] of Object.entries(rows)) console.log(`  ${name.padEnd(22)} ${cos.toFixed(4)}`);
process.exit(0); // the loader's decode pool keeps workers alive
