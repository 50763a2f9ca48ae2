// "image,caption" CSV, one caption a line, as Flickr8k's captions.txt is commonly shipped. Captions
// may be quoted (with "" for a quote) or not; an unquoted caption's commas belong to the caption.
import { dirname } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { BadSample } from '../errors.js';
import { CaptionGrouper, finishCaptions, readText, type CaptionDataset, type LoadOptions } from './common.js';

/** Whether a line is the "image,caption" header that marks the format. */
export function isCsvHeader(line: string): boolean {
  return /^\ufeff?image\s*,\s*caption\s*$/i.test(line.trim());
}

export function loadCsvCaptions(file: string, options: LoadOptions = {}): CaptionDataset {
  const problems: BadSample[] = [];
  const grouper = new CaptionGrouper(file, options.imageRoot ?? dirname(file));
  // Parsed a line at a time: a stray quote then spoils its own line, not the rest of the file.
  readText(file).split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || (i === 0 && isCsvHeader(line))) return;
    const record = `line ${i + 1}`;
    let fields: string[];
    try {
      fields = parse(line, { relax_quotes: true, relax_column_count: true })[0] ?? [];
    } catch (err) {
      problems.push({ file, record, message: `not CSV: ${(err as Error).message}` });
      return;
    }
    const [image, ...rest] = fields;
    const caption = rest.join(',').trim();
    if (!image?.trim() || caption === '') {
      problems.push({ file, record, message: `expected "image,caption", got ${JSON.stringify(line.slice(0, 60))}` });
      return;
    }
    grouper.add(image.trim(), image.trim().replace(/\.[^.]+$/, ''), [caption], record);
  });
  return finishCaptions(file, grouper.images, problems, options);
}
