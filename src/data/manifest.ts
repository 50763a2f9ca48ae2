// A dataset manifest (dataset.json) names, per split, annotation files in the real formats. The
// built-in world writes one; users write one for their own data. Paths are relative to the manifest.
// Objects are strict: a misspelt key is an error naming the nearest valid one, not silently dropped
// (a dropped split list once made every split hold every image).
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { loadCaptions, CAPTION_FORMATS } from './formats/detect.js';
import { loadAnswerList, loadVqa, type VqaSample } from './formats/vqa.js';
import { parseTop, readJson, type CaptionDataset, type LoadOptions } from './formats/common.js';
import { DataError, warnToStderr, type Warn } from './errors.js';

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

const SplitSchema = z.strictObject({
  captions: z.string().optional(),
  captionFormat: z.enum(CAPTION_FORMATS).optional(),
  /** A split list (Flickr_8k.trainImages.txt): image paths relative to imageRoot, one a line; only these are kept. */
  imageList: z.string().optional(),
  vqa: z.strictObject({ questions: z.string(), annotations: z.string().optional(), imagePattern: z.string().optional() }).optional(),
  /** Built-in world only: [{image, caption, negative, changed}]. */
  hardNegatives: z.string().optional(),
});

export const ManifestSchema = z.strictObject({
  format: z.literal('dlip-dataset'),
  version: z.literal(1),
  name: z.string(),
  /** Folder image paths are relative to (relative to the manifest). */
  imageRoot: z.string().default('.'),
  /** Whether a horizontal flip must swap "left"/"right" in the text (true for the built-in world). */
  flipSwapsLeftRight: z.boolean().default(false),
  answerList: z.string().optional(),
  splits: z.partialRecord(z.enum(SPLITS), SplitSchema),
  /**
   * Caption generation lengths for this data, counted as BLIP does (the whole sequence: [DEC] and the
   * prompt included); `dlip eval` uses them unless --max-length / --min-length say otherwise.
   */
  generation: z.strictObject({ maxLength: z.number().int().positive(), minLength: z.number().int().nonnegative() }).optional(),
  /** Retrieval candidates reranked by ITM per query in `dlip eval` (default 256, BLIP's COCO value; Flickr30K: 128). */
  retrievalK: z.number().int().positive().optional(),
  /** Generator settings, for the built-in world. */
  world: z.strictObject({ seed: z.number().int(), config: z.record(z.string(), z.unknown()) }).optional(),
});
export type Manifest = z.output<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;

export const MANIFEST_NAME = 'dataset.json';

export interface HardNegativeRecord {
  image: string;
  caption: string;
  negative: string;
  changed: string;
}

type Kind = 'captions' | 'vqa';
type SplitOptions = Omit<LoadOptions, 'imageRoot' | 'imageRootFrom' | 'imageList' | 'split'>;

/** Two splits holding some of the same images. */
export interface SharedImages {
  splits: [Split, Split];
  count: number;
  example: string;
}

export class Dataset {
  readonly dir: string;
  readonly imageRoot: string;
  /** Per "kind:split", the images of the splits loaded so far, to find images splits share. */
  private readonly images = new Map<string, Set<string>>();
  private readonly overlapChecked = new Set<Kind>();

  constructor(readonly file: string, readonly manifest: Manifest) {
    this.dir = dirname(file);
    this.imageRoot = resolve(this.dir, manifest.imageRoot);
  }

  private split(split: Split) {
    const s = this.manifest.splits[split];
    if (!s) throw new DataError(`${this.file}: no "${split}" split (has: ${Object.keys(this.manifest.splits).join(', ')})`);
    return s;
  }

  /** A split's captions; the first load of a kind also warns if splits share images. */
  captions(split: Split, options: SplitOptions = {}): CaptionDataset {
    const data = this.loadCaptions(split, options);
    this.loaded('captions', split, data.images.map((i) => i.image), options.warn);
    return data;
  }

  vqa(split: Split, options: SplitOptions = {}): VqaSample[] {
    const samples = this.loadVqa(split, options);
    this.loaded('vqa', split, samples.map((q) => q.image), options.warn);
    return samples;
  }

  private loadCaptions(split: Split, options: SplitOptions): CaptionDataset {
    const s = this.split(split);
    if (!s.captions) throw new DataError(`${this.file}: split "${split}" has no captions file`);
    return loadCaptions(resolve(this.dir, s.captions), {
      ...options,
      imageRoot: this.imageRoot,
      imageRootFrom: `"imageRoot" in ${this.file}`,
      imageList: s.imageList && resolve(this.dir, s.imageList),
      split,
      format: s.captionFormat,
    });
  }

  private loadVqa(split: Split, options: SplitOptions): VqaSample[] {
    const s = this.split(split);
    if (!s.vqa) throw new DataError(`${this.file}: split "${split}" has no VQA files`);
    return loadVqa(resolve(this.dir, s.vqa.questions), {
      ...options,
      imageRoot: this.imageRoot,
      imageRootFrom: `"imageRoot" in ${this.file}`,
      annotations: s.vqa.annotations && resolve(this.dir, s.vqa.annotations),
      imagePattern: s.vqa.imagePattern,
    });
  }

  private loaded(kind: Kind, split: Split, images: string[], warn: Warn = warnToStderr): void {
    this.images.set(`${kind}:${split}`, new Set(images));
    if (this.overlapChecked.has(kind)) return;
    this.overlapChecked.add(kind);
    for (const { splits, count, example } of this.sharedImages(kind)) {
      warn(`${this.file}: splits "${splits[0]}" and "${splits[1]}" share ${count} images (e.g. ${example}); each split should have its own`);
    }
  }

  /** Pairs of splits with images in common, of captions or VQA; splits not loaded yet are read quietly. */
  sharedImages(kind: Kind): SharedImages[] {
    const sets = SPLITS.flatMap((split) => {
      const images = this.imagesOf(kind, split);
      return images ? [{ split, images }] : [];
    });
    const shared: SharedImages[] = [];
    sets.forEach((a, i) => {
      for (const b of sets.slice(i + 1)) {
        const common = [...a.images].filter((image) => b.images.has(image));
        if (common.length > 0) shared.push({ splits: [a.split, b.split], count: common.length, example: common[0]! });
      }
    });
    return shared;
  }

  /** The images of a split, or undefined if it has none of this kind or cannot be read (its own load reports why). */
  private imagesOf(kind: Kind, split: Split): Set<string> | undefined {
    const key = `${kind}:${split}`;
    const s = this.manifest.splits[split];
    if (!this.images.has(key) && (kind === 'captions' ? s?.captions : s?.vqa)) {
      const quiet: SplitOptions = { onBadSample: 'skip', warn: () => {}, checkImages: false };
      try {
        const images = kind === 'captions' ? this.loadCaptions(split, quiet).images.map((i) => i.image) : this.loadVqa(split, quiet).map((q) => q.image);
        this.images.set(key, new Set(images));
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
      }
    }
    return this.images.get(key);
  }

  answerList(): string[] {
    if (!this.manifest.answerList) throw new DataError(`${this.file}: no answerList`);
    return loadAnswerList(resolve(this.dir, this.manifest.answerList));
  }

  hardNegatives(split: Split): HardNegativeRecord[] {
    const s = this.split(split);
    if (!s.hardNegatives) throw new DataError(`${this.file}: split "${split}" has no hard negatives`);
    const file = resolve(this.dir, s.hardNegatives);
    const schema = z.array(z.object({ image: z.string(), caption: z.string(), negative: z.string(), changed: z.string() }));
    return parseTop(schema, readJson(file), file, 'a hard-negative list');
  }
}

/** Opens a manifest file, or the dataset.json inside a folder. */
export function openDataset(path: string): Dataset {
  const file = path.endsWith('.json') ? resolve(path) : resolve(path, MANIFEST_NAME);
  return new Dataset(file, parseTop(ManifestSchema, readJson(file), file, 'a dlip dataset manifest'));
}
