// What every annotation loader shares: reading JSON with readable errors, validating records one
// by one (so one bad record is reported, not the whole file), and checking that images exist.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { DataError, enforcePolicy, warnToStderr, type BadSample, type OnBadSample, type Warn } from '../errors.js';
import { nearestName } from '../suggest.js';
import type { Split } from '../manifest.js';

export interface LoadOptions {
  /** Folder that image paths in the file are relative to (default: the annotation file's folder). */
  imageRoot?: string;
  /** What sets imageRoot ('"imageRoot" in …/dataset.json', '--image-root'), named when no image exists. */
  imageRootFrom?: string;
  /** A split list (Flickr_8k.trainImages.txt): image paths relative to imageRoot, one a line; only these are kept. */
  imageList?: string;
  /** Files holding every split (Karpathy's dataset_*.json): the split to read; all of them when absent. */
  split?: Split;
  onBadSample?: OnBadSample;
  /** Told of the bad samples left out under onBadSample 'skip' (after the warning). */
  onSkip?: (problems: readonly BadSample[]) => void;
  /** Check that every image file exists (default true). */
  checkImages?: boolean;
  warn?: Warn;
}

/** An image and its reference captions. */
export interface ImageCaptions {
  imageId: string;
  /** Absolute path of the image file. */
  image: string;
  captions: string[];
  /** Where it came from, for error messages: "file: record 3". */
  source: string;
}

export interface CaptionDataset {
  file: string;
  images: ImageCaptions[];
}

export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataError(`${file}: cannot read: ${(err as Error).message}`);
  }
}

export function readJson(file: string): unknown {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DataError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, k) => (typeof p === 'number' ? `[${p}]` : k === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** The keys valid in the object that `schema` expects at `path`, for "did you mean" on unknown keys. */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: z.ZodType = schema;
  for (let k = 0; ; ) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (k === path.length) break;
    else if (s instanceof z.ZodObject) s = s.shape[String(path[k++])] as z.ZodType;
    else if (s instanceof z.ZodRecord) (s = s.valueType as z.ZodType), k++;
    else if (s instanceof z.ZodArray) (s = s.element as z.ZodType), k++;
    else return [];
    if (!s) return [];
  }
  if (s instanceof z.ZodObject) return Object.keys(s.shape);
  if (s instanceof z.ZodRecord && s.keyType instanceof z.ZodEnum) return (s.keyType.options as readonly PropertyKey[]).map(String);
  return [];
}

/** Zod issues as "field: message" lines, field paths written like a.b[2].c; unknown keys get the nearest valid name. */
export function formatIssues(error: z.ZodError, schema?: z.ZodType): string {
  return error.issues
    .map((i) => {
      const where = i.path.length ? `field "${fieldPath(i.path)}"` : 'record';
      if (i.code !== 'unrecognized_keys' || !schema) return `${where}: ${i.message}`;
      const valid = keysAt(schema, i.path);
      return i.keys
        .map((key) => {
          const near = nearestName(key, valid);
          const inside = i.path.length ? ` in "${fieldPath(i.path)}"` : '';
          return `unknown key "${key}"${inside} (${near ? `did you mean "${near}"? ` : ''}valid: ${valid.join(', ')})`;
        })
        .join('; ');
    })
    .join('; ');
}

/** Parses the file's top level or throws a DataError naming the file. */
export function parseTop<S extends z.ZodType>(schema: S, value: unknown, file: string, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new DataError(`${file}: not ${what}: ${formatIssues(result.error, schema)}`);
  return result.data;
}

/** Validates each record; bad ones become problems naming the record. */
export function parseRecords<S extends z.ZodType>(
  schema: S,
  records: readonly unknown[],
  file: string,
  describe: (index: number) => string = (i) => `record ${i}`,
): { valid: { index: number; value: z.output<S> }[]; problems: BadSample[] } {
  const valid: { index: number; value: z.output<S> }[] = [];
  const problems: BadSample[] = [];
  records.forEach((record, index) => {
    const result = schema.safeParse(record);
    if (result.success) valid.push({ index, value: result.data });
    else problems.push({ file, record: describe(index), message: formatIssues(result.error) });
  });
  return { valid, problems };
}

export function resolveImage(root: string, image: string): string {
  return isAbsolute(image) ? image : resolve(root, image);
}

/** Applies the policy to a loader's problems: 'fail' throws, 'skip' warns and tells onSkip. */
export function applyPolicy(problems: readonly BadSample[], options: LoadOptions, what: string): void {
  enforcePolicy(problems, options.onBadSample ?? 'fail', what, options.warn);
  if (problems.length > 0) options.onSkip?.(problems);
}

/**
 * Keeps the items whose image exists; the missing ones become problems. When not one exists the image
 * folder itself is wrong: that is one error, whatever the policy, not one problem per image.
 */
export function keepExistingImages<T>(file: string, items: readonly T[], image: (item: T) => string, record: (item: T) => string, root: string, options: LoadOptions): { kept: T[]; problems: BadSample[] } {
  if (options.checkImages === false) return { kept: [...items], problems: [] };
  const exists = new Map<string, boolean>();
  const found = (path: string) => {
    if (!exists.has(path)) exists.set(path, existsSync(path));
    return exists.get(path)!;
  };
  const kept = items.filter((item) => found(image(item)));
  if (kept.length === 0 && items.length > 0) {
    const from = options.imageRootFrom ?? "the image folder (by default the annotation file's folder)";
    throw new DataError(`${file}: none of its ${exists.size} images exists under ${root} (e.g. ${image(items[0]!)}); check ${from}`);
  }
  const problems = items.filter((item) => !found(image(item))).map((item) => ({ file, record: record(item), message: `image file not found: ${image(item)}` }));
  return { kept, problems };
}

/** The images a split list names (paths relative to the image folder); warns about names no record has. */
function selectListed(file: string, images: ImageCaptions[], root: string, list: string, warn: Warn): ImageCaptions[] {
  const names = readText(list).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (names.length === 0) throw new DataError(`${list}: lists no images`);
  const wanted = new Set(names.map((n) => resolveImage(root, n)));
  const kept = images.filter((img) => wanted.has(img.image));
  if (kept.length === 0) {
    const example = images[0] ? `; ${file} names e.g. ${images[0].image}` : '';
    throw new DataError(`${list}: none of its ${wanted.size} images has captions in ${file} (its first is ${resolveImage(root, names[0]!)}${example})`);
  }
  if (kept.length < wanted.size) warn(`${list}: ${wanted.size - kept.length} of its ${wanted.size} images have no captions in ${file}`);
  return kept;
}

/** Keeps a split list's images, drops images whose file is missing (as problems), then applies the policy. */
export function finishCaptions(file: string, images: ImageCaptions[], problems: BadSample[], options: LoadOptions): CaptionDataset {
  const root = options.imageRoot ?? dirname(file);
  const listed = options.imageList ? selectListed(file, images, root, options.imageList, options.warn ?? warnToStderr) : images;
  const { kept, problems: missing } = keepExistingImages(file, listed, (img) => img.image, (img) => img.source.slice(file.length + 2), root, options);
  applyPolicy([...problems, ...missing], options, file);
  if (kept.length === 0) throw new DataError(`${file}: no usable image-caption records`);
  return { file, images: kept };
}

/** Groups (image, caption) rows into one entry per image, keeping first-seen order. */
export class CaptionGrouper {
  private readonly byImage = new Map<string, ImageCaptions>();
  constructor(private readonly file: string, private readonly root: string) {}
  add(image: string, imageId: string | number | undefined, captions: readonly string[], record: string): void {
    const path = resolveImage(this.root, image);
    let entry = this.byImage.get(path);
    if (!entry) {
      entry = { imageId: imageId === undefined ? image : String(imageId), image: path, captions: [], source: `${this.file}: ${record}` };
      this.byImage.set(path, entry);
    }
    entry.captions.push(...captions);
  }
  get images(): ImageCaptions[] {
    return [...this.byImage.values()];
  }
}
