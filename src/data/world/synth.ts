// Writes the built-in world to disk in the real formats, so the real loaders read it: Karpathy/BLIP
// caption JSON, VQAv2 question + annotation JSON, BLIP's answer list, PNG images, and a dataset.json.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../../io/atomic.js';
import { MANIFEST_NAME, SPLITS, type ManifestInput, type Split } from '../manifest.js';
import { imagePathFor } from '../formats/vqa.js';
import type { KarpathyRecord } from '../formats/karpathy.js';
import { DataError } from '../errors.js';
import { fitGenerationLengths } from '../caption-lengths.js';
import { defaultTokenizer } from '../tokenizer.js';
import { parseWorldConfig, WORLD_SIZES, type SplitSizes, type WorldConfigInput, type WorldSizeName } from './config.js';
import { generateWorldImage, renderRng } from './generate.js';
import { renderScenePng } from './render.js';

export interface SynthOptions {
  out: string;
  sizes: SplitSizes;
  seed?: number;
  config?: WorldConfigInput;
  /** Replace a non-empty output folder. */
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Image paths relative to the dataset folder; the VQA loader rebuilds them from this pattern. */
export const WORLD_IMAGE_PATTERN = 'images/{subtype}/{id:012}.png';

const CONCURRENCY = 4;

/** Generates the world into `out` and returns the path of its dataset.json. */
export async function synthesizeWorld(options: SynthOptions): Promise<string> {
  const seed = options.seed ?? 0;
  const config = parseWorldConfig(options.config);
  const out = resolve(options.out);
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!options.force) throw new DataError(`${out} is not empty (use --force to replace it)`);
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(join(out, 'annotations'), { recursive: true });
  const total = options.sizes.train + options.sizes.val + options.sizes.test;
  let done = 0;
  let nextIndex = 0;
  const trainingCaptions: string[] = [];
  const manifest: ManifestInput = {
    format: 'dlip-dataset', version: 1, name: 'dlip built-in world', imageRoot: '.', flipSwapsLeftRight: true,
    answerList: 'annotations/answer_list.json', splits: {}, world: { seed, config },
  };
  for (const split of SPLITS) {
    const count = options.sizes[split];
    if (count <= 0) continue;
    mkdirSync(join(out, 'images', split), { recursive: true });
    const first = nextIndex;
    nextIndex += count;
    const captions: KarpathyRecord[] = [];
    const negatives: { image: string; caption: string; negative: string; changed: string }[] = [];
    const questions: object[] = [];
    const annotations: object[] = [];
    const work = async (index: number) => {
      const imageId = index + 1;
      const world = generateWorldImage(seed, index, config);
      const image = imagePathFor(WORLD_IMAGE_PATTERN, imageId, split);
      await writeFileAtomic(join(out, image), await renderScenePng(world.scene, config, renderRng(seed, index)));
      return { imageId, image, world };
    };
    // Bounded concurrency; results are written in index order so the files do not depend on timing.
    for (let start = first; start < first + count; start += CONCURRENCY) {
      const batch = await Promise.all(Array.from({ length: Math.min(CONCURRENCY, first + count - start) }, (_, k) => work(start + k)));
      for (const { imageId, image, world } of batch) {
        const texts = world.captions.map((c) => c.text);
        if (split === 'train') {
          for (const caption of texts) captions.push({ image, caption, image_id: imageId });
          trainingCaptions.push(...texts);
        }
        else captions.push({ image, caption: texts, image_id: imageId });
        world.negatives.forEach((n, i) => n && negatives.push({ image, caption: texts[i]!, negative: n.text, changed: n.changed }));
        world.questions.forEach((q, k) => {
          const questionId = imageId * 100 + k;
          questions.push({ image_id: imageId, question: q.question, question_id: questionId });
          const counts = new Map<string, number>();
          for (const a of q.answers) counts.set(a, (counts.get(a) ?? 0) + 1);
          const majority = [...counts.entries()].sort((x, y) => y[1] - x[1])[0]![0];
          annotations.push({
            question_id: questionId, image_id: imageId, question_type: q.questionType, answer_type: q.answerType,
            multiple_choice_answer: majority,
            answers: q.answers.map((answer, j) => ({ answer, answer_confidence: answer === q.answer ? 'yes' : 'maybe', answer_id: j + 1 })),
          });
        });
        options.onProgress?.(++done, total);
      }
    }
    const ann = (name: string) => join(out, 'annotations', name);
    const common = { info: { description: 'dlip built-in world', seed }, license: { name: 'generated' }, data_subtype: split };
    await writeFileAtomic(ann(`${split}.json`), JSON.stringify(captions));
    await writeFileAtomic(ann(`${split}_hard_negatives.json`), JSON.stringify(negatives));
    await writeFileAtomic(ann(`${split}_questions.json`), JSON.stringify({ ...common, task_type: 'Open-Ended', data_type: 'world', questions }));
    await writeFileAtomic(ann(`${split}_annotations.json`), JSON.stringify({ ...common, data_type: 'world', annotations }));
    manifest.splits[split as Split] = {
      captions: `annotations/${split}.json`, captionFormat: 'karpathy', hardNegatives: `annotations/${split}_hard_negatives.json`,
      vqa: { questions: `annotations/${split}_questions.json`, annotations: `annotations/${split}_annotations.json`, imagePattern: WORLD_IMAGE_PATTERN },
    };
  }
  // A rerank depth the world's test split can afford (BLIP's 256 would be 768k ITM passes); the README
  // gives what a deeper rerank measured.
  manifest.retrievalK = 16;
  if (trainingCaptions.length > 0) manifest.generation = fitGenerationLengths(trainingCaptions, defaultTokenizer());
  const answers = [...config.colours, ...config.shapes, 'yes', 'no', ...Array.from({ length: config.maxObjects + 2 }, (_, n) => String(n))];
  await writeFileAtomic(join(out, 'annotations', 'answer_list.json'), JSON.stringify(answers));
  const manifestPath = join(out, MANIFEST_NAME);
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2));
  return manifestPath;
}

/** Where the built-in world is cached: $DLIP_CACHE or ~/.cache/dlip. */
export function worldCacheDir(): string {
  return process.env.DLIP_CACHE ? resolve(process.env.DLIP_CACHE) : join(homedir(), '.cache', 'dlip');
}

/**
 * The embedded default data set: the built-in world of a named size, generated once into the cache
 * (into a temporary folder, then renamed, so a half-made world is never used). Returns its dataset.json.
 */
export async function builtinWorld(size: WorldSizeName = 'small', seed = 0, config: WorldConfigInput = {}): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify({ size, seed, config: parseWorldConfig(config), v: 2 })).digest('hex').slice(0, 12);
  const dir = join(worldCacheDir(), `world-${size}-${key}`);
  const manifestPath = join(dir, MANIFEST_NAME);
  if (existsSync(manifestPath)) return manifestPath;
  const tmp = `${dir}.${process.pid}.tmp`;
  await synthesizeWorld({ out: tmp, sizes: WORLD_SIZES[size], seed, config, force: true });
  mkdirSync(worldCacheDir(), { recursive: true });
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another process finished the same world first: use theirs.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(manifestPath)) throw err;
  }
  return manifestPath;
}
