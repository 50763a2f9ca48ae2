// The Karpathy-split JSON used by BLIP: a list of records, train style {image, caption, image_id}
// (one caption per record) or val/test style {image, caption: [...]} (all captions of an image).
import { dirname } from 'node:path';
import { z } from 'zod';
import { CaptionGrouper, finishCaptions, parseRecords, parseTop, readJson, type CaptionDataset, type LoadOptions } from './common.js';

export const KarpathyRecordSchema = z.object({
  image: z.string().min(1),
  caption: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  image_id: z.union([z.string(), z.number()]).optional(),
});
export type KarpathyRecord = z.input<typeof KarpathyRecordSchema>;

/** `json`: the file's parsed content, when the caller has read it already. */
export function loadKarpathy(file: string, options: LoadOptions = {}, json: unknown = readJson(file)): CaptionDataset {
  const records = parseTop(z.array(z.unknown()), json, file, 'a Karpathy-split JSON list of {image, caption} records');
  const { valid, problems } = parseRecords(KarpathyRecordSchema, records, file);
  const grouper = new CaptionGrouper(file, options.imageRoot ?? dirname(file));
  for (const { index, value } of valid) {
    grouper.add(value.image, value.image_id, typeof value.caption === 'string' ? [value.caption] : value.caption, `record ${index}`);
  }
  return finishCaptions(file, grouper.images, problems, options);
}
