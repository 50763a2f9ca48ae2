// What every annotation loader shares: reading JSON with readable errors, validating records one
// by one (so one bad record is reported, not the whole file), and checking that images exist.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { DataError, enforcePolicy, type BadSample, type OnBadSample, type Warn } from '../errors.js';

export interface LoadOptions {
  /** Folder that image paths in the file are relative to (default: the annotation file's folder). */
  imageRoot?: string;
  onBadSample?: OnBadSample;
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

/** Zod issues as "field: message" lines, field paths written like a.b[2].c. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.map((p, k) => (typeof p === 'number' ? `[${p}]` : k === 0 ? String(p) : `.${String(p)}`)).join('');
      return `${path ? `field "${path}"` : 'record'}: ${i.message}`;
    })
    .join('; ');
}

/** Parses the file's top level or throws a DataError naming the file. */
export function parseTop<S extends z.ZodType>(schema: S, value: unknown, file: string, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new DataError(`${file}: not ${what}: ${formatIssues(result.error)}`);
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

/** Drops images whose file is missing (as problems), then applies the policy to all problems. */
export function finishCaptions(file: string, images: ImageCaptions[], problems: BadSample[], options: LoadOptions): CaptionDataset {
  const kept = options.checkImages === false ? images : images.filter((img) => {
    if (existsSync(img.image)) return true;
    problems.push({ file, record: img.source.slice(file.length + 2), message: `image file not found: ${img.image}` });
    return false;
  });
  enforcePolicy(problems, options.onBadSample ?? 'fail', file, options.warn);
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
