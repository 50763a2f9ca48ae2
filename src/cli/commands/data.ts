// `dlip data …`: make the built-in world, and check a data set (annotations and every image).
import { existsSync, statSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import {
  CAPTION_FORMATS, DataError, DecodePool, enforcePolicy, loadCaptions, ON_BAD_SAMPLE, openDataset, parseWorldConfig, readJson, splitSizesFor,
  synthesizeWorld, WORLD_SIZES, type BadSample, type CaptionFormat, type OnBadSample, type WorldConfigInput,
} from '../../data/index.js';

function progressBar(label: string): { update: (done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

/** Decodes every image once; returns the ones that fail. */
async function decodeAll(images: { image: string; source: string }[], label: string): Promise<BadSample[]> {
  const pool = new DecodePool();
  const bar = progressBar(label);
  const problems: BadSample[] = [];
  let done = 0;
  try {
    const window = 64;
    for (let i = 0; i < images.length; i += window) {
      await Promise.all(images.slice(i, i + window).map(async ({ image, source }) => {
        try {
          await pool.decode({ path: image, size: 32, flip: false });
        } catch (err) {
          const [file, ...rest] = source.split(': ');
          problems.push({ file: file!, record: rest.join(': '), message: `cannot decode image ${image}: ${(err as Error).message}` });
        }
        bar.update(++done, images.length);
      }));
    }
  } finally {
    bar.stop();
    await pool.close();
  }
  return problems;
}

export function registerData(program: Command): void {
  const data = program.command('data').description('make the built-in world; check data sets');

  data
    .command('synth')
    .description('write the built-in world (PNG images, Karpathy/BLIP caption JSON, VQAv2 questions/annotations, answer list, dataset.json)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--images <n|name>', `total images (split 80/10/10) or a named size: ${Object.entries(WORLD_SIZES).map(([k, v]) => `${k} (${v.train}/${v.val}/${v.test})`).join(', ')}`, 'small')
    .option('--size <px>', 'rendered image side in pixels', positiveInt('--size'))
    .option('--seed <k>', 'random seed (the same seed gives the same files)', positiveInt('--seed'), 0)
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
    .description('load annotations (a dataset.json or folder, or one caption file) and decode every image, reporting bad samples by file and record')
    .argument('<path>', 'dataset.json, a folder holding one, or a caption file (Karpathy JSON, COCO captions JSON, Flickr .token, JSONL)')
    .addOption(new Option('--format <name>', 'caption file format (default: detected)').choices(CAPTION_FORMATS))
    .option('--image-root <dir>', 'folder image paths are relative to (caption file only; default: its folder)')
    .addOption(new Option('--on-bad-sample <policy>', 'fail: stop and list the first few; skip: warn and leave them out').choices(ON_BAD_SAMPLE).default('fail'))
    .action(async (path: string, opts: { format?: CaptionFormat; imageRoot?: string; onBadSample: OnBadSample }) => {
      if (!existsSync(path)) throw new DataError(`${path}: no such file or folder`);
      const policy = opts.onBadSample;
      const isManifest = statSync(path).isDirectory() || (path.endsWith('.json') && (readJson(path) as { format?: unknown })?.format === 'dlip-dataset');
      const groups: { label: string; images: { image: string; source: string }[]; count: string }[] = [];
      if (isManifest) {
        const ds = openDataset(path);
        for (const [split, s] of Object.entries(ds.manifest.splits)) {
          const name = split as 'train' | 'val' | 'test';
          if (s.captions) {
            const caps = ds.captions(name, { onBadSample: policy });
            groups.push({ label: `${split} captions`, images: caps.images, count: `${caps.images.length} images, ${caps.images.reduce((n, i) => n + i.captions.length, 0)} captions` });
          }
          if (s.vqa) {
            const qs = ds.vqa(name, { onBadSample: policy });
            const unique = new Map(qs.map((q) => [q.image, { image: q.image, source: q.source }]));
            groups.push({ label: `${split} VQA`, images: [...unique.values()], count: `${qs.length} questions on ${unique.size} images` });
          }
        }
        if (ds.manifest.answerList) process.stdout.write(`answer list: ${ds.answerList().length} answers\n`);
      } else {
        const caps = loadCaptions(path, { format: opts.format, imageRoot: opts.imageRoot, onBadSample: policy });
        groups.push({ label: 'captions', images: caps.images, count: `${caps.images.length} images, ${caps.images.reduce((n, i) => n + i.captions.length, 0)} captions` });
      }
      for (const g of groups) {
        const problems = await decodeAll(g.images, `decoding ${g.label}`);
        enforcePolicy(problems, policy, `${g.label} images`);
        process.stdout.write(`${g.label}: ${g.count}, ${g.images.length - problems.length} images decode\n`);
      }
    });
}
