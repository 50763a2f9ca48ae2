// `dlip data …`: make the built-in world, and check a data set (annotations and every image).
import { existsSync, statSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  CAPTION_FORMATS, DataError, DecodePool, describeBadSample, loadCaptions, openDataset, parseWorldConfig, readJson, splitSizesFor, SPLITS,
  synthesizeWorld, undecodableImages, WORLD_SIZES, type BadSample, type CaptionFormat, type LoadOptions, type OnBadSample, type WorldConfigInput,
} from '../../data/index.js';
import { nonNegativeInt, onBadSampleOption, positiveInt } from '../options.js';
import { progressBar } from '../progress.js';

export function registerData(program: Command): void {
  const data = program.command('data').description('make the built-in world; check data sets');

  data
    .command('synth')
    .description('write the built-in world (PNG images, Karpathy/BLIP caption JSON, VQAv2 questions/annotations, answer list, dataset.json)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--images <n|name>', `total images (split 80/10/10) or a named size: ${Object.entries(WORLD_SIZES).map(([k, v]) => `${k} (${v.train}/${v.val}/${v.test})`).join(', ')}`, 'small')
    .option('--size <px>', 'rendered image side in pixels', positiveInt)
    .option('--seed <k>', 'random seed (the same seed gives the same files)', nonNegativeInt, 0)
    .option('--config <file>', 'JSON file of world difficulty knobs (shapes, colours, sizes, minObjects, maxObjects, noise, textureStrokes, colourJitter, positionJitter, maxRotation, captionsPerImage, questionsPerImage, answerNoise, synonymRate)')
    .option('--force', 'replace a non-empty output folder')
    .action(async (opts: { out: string; images: string; size?: number; seed: number; config?: string; force?: boolean }) => {
      const sizes = opts.images in WORLD_SIZES ? WORLD_SIZES[opts.images as keyof typeof WORLD_SIZES] : splitSizesFor(Number(opts.images));
      const config: WorldConfigInput = { ...(opts.config ? (readJson(opts.config) as WorldConfigInput) : {}), ...(opts.size !== undefined ? { imageSize: opts.size } : {}) };
      const full = parseWorldConfig(config);
      const bar = progressBar('rendering');
      const started = Date.now();
      let manifest: string;
      try {
        manifest = await synthesizeWorld({ out: opts.out, sizes, seed: opts.seed, config, force: opts.force, onProgress: bar.update });
      } finally {
        bar.stop();
      }
      process.stdout.write(
        `wrote ${sizes.train}/${sizes.val}/${sizes.test} train/val/test images (${full.imageSize} px, seed ${opts.seed}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n` +
          `dataset: ${manifest}\n`,
      );
    });

  data
    .command('check')
    .description('load annotations (a dataset.json or folder, or one caption file) and decode every image, reporting every bad sample by file and record')
    .argument('<path>', "dataset.json, a folder holding one, or a caption file (Karpathy JSON or dataset_*.json, COCO captions JSON, Flickr .token, image,caption CSV, JSONL)")
    .addOption(new Option('--format <name>', 'caption file format (default: detected)').choices(CAPTION_FORMATS))
    .option('--image-root <dir>', 'folder image paths are relative to (caption file only; default: its folder)')
    .addOption(onBadSampleOption().default('fail'))
    .action(async (path: string, opts: { format?: CaptionFormat; imageRoot?: string; onBadSample: OnBadSample }) => {
      if (!existsSync(path)) throw new DataError(`${path}: no such file or folder`);
      const isManifest = statSync(path).isDirectory() || (path.endsWith('.json') && (readJson(path) as { format?: unknown })?.format === 'dlip-dataset');
      // Everything is read with 'skip' so that every problem, of annotations and of images, is found in one pass.
      const problems: BadSample[] = [];
      const errors: string[] = [];
      const collect: LoadOptions = { onBadSample: 'skip', warn: () => {}, onSkip: (p) => problems.push(...p) };
      const lines: string[] = [];
      const pool = new DecodePool();
      const check = async (label: string, load: () => { images: { image: string; source: string }[]; count: string }) => {
        let loaded;
        try {
          loaded = load();
        } catch (err) {
          if (!(err instanceof DataError)) throw err;
          errors.push(err.message);
          lines.push(`${label}: unreadable`);
          return;
        }
        const bar = progressBar(`decoding ${label}`);
        const bad = await undecodableImages(loaded.images, (i) => i.image, (i) => i.source, pool, bar.update).finally(() => bar.stop());
        problems.push(...bad.values());
        const distinct = new Set(loaded.images.map((i) => i.image)).size;
        lines.push(`${label}: ${loaded.count}; ${distinct - bad.size} of ${distinct} images decode`);
      };
      try {
        if (isManifest) {
          const ds = openDataset(path);
          for (const split of SPLITS) {
            const s = ds.manifest.splits[split];
            if (s?.captions) {
              await check(`${split} captions`, () => {
                const caps = ds.captions(split, collect);
                return { images: caps.images, count: `${caps.images.length} images, ${caps.images.reduce((n, i) => n + i.captions.length, 0)} captions` };
              });
            }
            if (s?.vqa) {
              await check(`${split} VQA`, () => {
                const qs = ds.vqa(split, collect);
                return { images: qs, count: `${qs.length} questions` };
              });
            }
          }
          for (const kind of ['captions', 'vqa'] as const) {
            for (const o of ds.sharedImages(kind)) lines.push(`warning: ${kind} splits "${o.splits[0]}" and "${o.splits[1]}" share ${o.count} images (e.g. ${o.example})`);
          }
          if (ds.manifest.answerList) {
            try {
              lines.push(`answer list: ${ds.answerList().length} answers`);
            } catch (err) {
              if (!(err instanceof DataError)) throw err;
              errors.push(err.message);
            }
          }
        } else {
          await check('captions', () => {
            const caps = loadCaptions(path, { ...collect, format: opts.format, imageRoot: opts.imageRoot, imageRootFrom: '--image-root' });
            return { images: caps.images, count: `${caps.images.length} images, ${caps.images.reduce((n, i) => n + i.captions.length, 0)} captions` };
          });
        }
      } finally {
        await pool.close();
      }
      for (const p of problems) lines.push(`bad sample: ${describeBadSample(p)}`);
      for (const e of errors) lines.push(`error: ${e}`);
      process.stdout.write(`${lines.join('\n')}\n`);
      const total = problems.length + errors.length;
      if (errors.length > 0 || (total > 0 && opts.onBadSample === 'fail')) {
        throw new DataError(`${path}: ${problems.length} bad ${problems.length === 1 ? 'sample' : 'samples'}${errors.length ? ` and ${errors.length} unreadable ${errors.length === 1 ? 'file' : 'files'}` : ''} (listed above)`);
      }
    });
}
