// Karpathy's own split file, as published (dataset_coco.json, dataset_flickr8k.json,
// dataset_flickr30k.json): one file for every split, {images: [{filepath?, filename, split,
// sentences: [{raw}]}]}. "restval" images count as train, as the Karpathy splits are used.
import { dirname } from 'node:path';
import { z } from 'zod';
import { DataError } from '../errors.js';
import { CaptionGrouper, finishCaptions, parseRecords, parseTop, readJson, type CaptionDataset, type LoadOptions } from './common.js';
import type { Split } from '../manifest.js';

const KARPATHY_SPLITS = ['train', 'restval', 'val', 'test'] as const;
const SPLIT_OF: Record<(typeof KARPATHY_SPLITS)[number], Split> = { train: 'train', restval: 'train', val: 'val', test: 'test' };

const ImageSchema = z.object({
  /** COCO's folder (train2014 / val2014); absent for Flickr. */
  filepath: z.string().optional(),
  filename: z.string().min(1),
  split: z.enum(KARPATHY_SPLITS),
  sentences: z.array(z.object({ raw: z.string().min(1) })).min(1),
  cocoid: z.number().int().optional(),
});
const TopSchema = z.object({ images: z.array(z.unknown()), dataset: z.string().optional() });

/** `json`: the file's parsed content, when the caller has read it already. */
export function loadKarpathyDataset(file: string, options: LoadOptions = {}, json: unknown = readJson(file)): CaptionDataset {
  const top = parseTop(TopSchema, json, file, "Karpathy's dataset_*.json ({images: [{filename, split, sentences}]})");
  const { valid, problems } = parseRecords(ImageSchema, top.images, file, (i) => `images[${i}]`);
  const grouper = new CaptionGrouper(file, options.imageRoot ?? dirname(file));
  for (const { index, value } of valid) {
    if (options.split && SPLIT_OF[value.split] !== options.split) continue;
    const image = value.filepath ? `${value.filepath}/${value.filename}` : value.filename;
    // COCO's id where there is one (results files use it), else the file name as Flickr's loaders do.
    const imageId = value.cocoid ?? value.filename.replace(/\.[^.]+$/, '');
    grouper.add(image, imageId, value.sentences.map((s) => s.raw), `images[${index}]`);
  }
  if (options.split && grouper.images.length === 0 && valid.length > 0) {
    throw new DataError(`${file}: no image has split "${options.split}"${options.split === 'train' ? ' or "restval"' : ''}`);
  }
  return finishCaptions(file, grouper.images, problems, options);
}
