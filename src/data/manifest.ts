// A dataset manifest (dataset.json) names, per split, annotation files in the real formats. The
// built-in world writes one; users write one for their own data. Paths are relative to the manifest.
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { loadCaptions, CAPTION_FORMATS } from './formats/detect.js';
import { loadAnswerList, loadVqa, type VqaSample } from './formats/vqa.js';
import { parseTop, readJson, type CaptionDataset, type LoadOptions } from './formats/common.js';
import { DataError } from './errors.js';

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

const SplitSchema = z.object({
  captions: z.string().optional(),
  captionFormat: z.enum(CAPTION_FORMATS).optional(),
  vqa: z.object({ questions: z.string(), annotations: z.string().optional(), imagePattern: z.string().optional() }).optional(),
  /** Built-in world only: [{image, caption, negative, changed}]. */
  hardNegatives: z.string().optional(),
});

export const ManifestSchema = z.object({
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
  generation: z.object({ maxLength: z.number().int().positive(), minLength: z.number().int().nonnegative() }).optional(),
  /** Retrieval candidates reranked by ITM per query in `dlip eval` (default 256, BLIP's COCO value; Flickr30K: 128). */
  retrievalK: z.number().int().positive().optional(),
  /** Generator settings, for the built-in world. */
  world: z.object({ seed: z.number().int(), config: z.record(z.string(), z.unknown()) }).optional(),
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

export class Dataset {
  readonly dir: string;
  readonly imageRoot: string;

  constructor(readonly file: string, readonly manifest: Manifest) {
    this.dir = dirname(file);
    this.imageRoot = resolve(this.dir, manifest.imageRoot);
  }

  private split(split: Split) {
    const s = this.manifest.splits[split];
    if (!s) throw new DataError(`${this.file}: no "${split}" split (has: ${Object.keys(this.manifest.splits).join(', ')})`);
    return s;
  }

  captions(split: Split, options: Omit<LoadOptions, 'imageRoot'> = {}): CaptionDataset {
    const s = this.split(split);
    if (!s.captions) throw new DataError(`${this.file}: split "${split}" has no captions file`);
    return loadCaptions(resolve(this.dir, s.captions), { ...options, imageRoot: this.imageRoot, format: s.captionFormat });
  }

  vqa(split: Split, options: Omit<LoadOptions, 'imageRoot'> = {}): VqaSample[] {
    const s = this.split(split);
    if (!s.vqa) throw new DataError(`${this.file}: split "${split}" has no VQA files`);
    return loadVqa(resolve(this.dir, s.vqa.questions), {
      ...options,
      imageRoot: this.imageRoot,
      annotations: s.vqa.annotations && resolve(this.dir, s.vqa.annotations),
      imagePattern: s.vqa.imagePattern,
    });
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
