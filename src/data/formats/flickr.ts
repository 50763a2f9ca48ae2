// Flickr8k / Flickr30k token files: one line per caption, "IMAGE.jpg#N<TAB>caption".
import { dirname } from 'node:path';
import { DataError, type BadSample } from '../errors.js';
import { CaptionGrouper, finishCaptions, readText, type CaptionDataset, type LoadOptions } from './common.js';
import { isCsvHeader } from './csv.js';

export function loadFlickrTokens(file: string, options: LoadOptions = {}): CaptionDataset {
  const problems: BadSample[] = [];
  const grouper = new CaptionGrouper(file, options.imageRoot ?? dirname(file));
  const lines = readText(file).split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const match = /^([^#\t]+)#(\d+)\t(.*)$/.exec(line);
    if (!match || match[3]!.trim() === '') {
      problems.push({ file, record: `line ${i + 1}`, message: `expected "IMAGE#N<TAB>caption", got ${JSON.stringify(line.slice(0, 60))}` });
      return;
    }
    const image = match[1]!;
    grouper.add(image, image.replace(/\.[^.]+$/, ''), [match[3]!.trim()], `line ${i + 1}`);
  });
  // Not one line in the format: the file is another format, which is one error, not one per line.
  if (grouper.images.length === 0 && problems.length > 0) {
    const hint = isCsvHeader(lines[0] ?? '') ? '; it is "image,caption" CSV: format csv' : '';
    throw new DataError(`${file}: not a Flickr token file (no line is "IMAGE#N<TAB>caption"; line 1 is ${JSON.stringify((lines[0] ?? '').slice(0, 60))})${hint}`);
  }
  return finishCaptions(file, grouper.images, problems, options);
}
