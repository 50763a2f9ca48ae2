// Flickr8k / Flickr30k token files: one line per caption, "IMAGE.jpg#N<TAB>caption".
import { dirname } from 'node:path';
import { CaptionGrouper, finishCaptions, readText, type CaptionDataset, type LoadOptions } from './common.js';
import type { BadSample } from '../errors.js';

export interface FlickrOptions extends LoadOptions {
  /** A split list (e.g. Flickr_8k.trainImages.txt, one image name a line): keep only those images. */
  splitFile?: string;
}

export function loadFlickrTokens(file: string, options: FlickrOptions = {}): CaptionDataset {
  const only = options.splitFile
    ? new Set(readText(options.splitFile).split(/\r?\n/).map((l) => l.trim()).filter(Boolean))
    : undefined;
  const problems: BadSample[] = [];
  const grouper = new CaptionGrouper(file, options.imageRoot ?? dirname(file));
  readText(file).split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const match = /^([^#\t]+)#(\d+)\t(.*)$/.exec(line);
    if (!match || match[3]!.trim() === '') {
      problems.push({ file, record: `line ${i + 1}`, message: `expected "IMAGE#N<TAB>caption", got ${JSON.stringify(line.slice(0, 60))}` });
      return;
    }
    const image = match[1]!;
    if (only && !only.has(image)) return;
    grouper.add(image, image.replace(/\.[^.]+$/, ''), [match[3]!.trim()], `line ${i + 1}`);
  });
  return finishCaptions(file, grouper.images, problems, options);
}
