// The official COCO captions file (captions_train2014.json etc.): images[] and annotations[].
import { dirname } from 'node:path';
import { z } from 'zod';
import { CaptionGrouper, finishCaptions, parseRecords, parseTop, readJson, type CaptionDataset, type LoadOptions } from './common.js';
import type { BadSample } from '../errors.js';

const CocoImageSchema = z.object({ id: z.number().int(), file_name: z.string().min(1) });
const CocoAnnotationSchema = z.object({ image_id: z.number().int(), caption: z.string().min(1) });
const CocoTopSchema = z.object({ images: z.array(z.unknown()), annotations: z.array(z.unknown()) });

/** `json`: the file's parsed content, when the caller has read it already. */
export function loadCocoCaptions(file: string, options: LoadOptions = {}, json: unknown = readJson(file)): CaptionDataset {
  const top = parseTop(CocoTopSchema, json, file, 'a COCO captions file ({images, annotations})');
  const images = parseRecords(CocoImageSchema, top.images, file, (i) => `images[${i}]`);
  const anns = parseRecords(CocoAnnotationSchema, top.annotations, file, (i) => `annotations[${i}]`);
  const problems: BadSample[] = [...images.problems, ...anns.problems];
  const names = new Map(images.valid.map(({ value }) => [value.id, value.file_name]));
  const grouper = new CaptionGrouper(file, options.imageRoot ?? dirname(file));
  for (const { index, value } of anns.valid) {
    const name = names.get(value.image_id);
    if (name === undefined) {
      problems.push({ file, record: `annotations[${index}]`, message: `image_id ${value.image_id} is not in images[]` });
      continue;
    }
    grouper.add(name, value.image_id, [value.caption], `annotations[${index}]`);
  }
  return finishCaptions(file, grouper.images, problems, options);
}
