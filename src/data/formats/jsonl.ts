// Plain JSON Lines: one {image, captions: [...]} object a line.
import { dirname } from 'node:path';
import { z } from 'zod';
import { CaptionGrouper, finishCaptions, formatIssues, readText, type CaptionDataset, type LoadOptions } from './common.js';
import type { BadSample } from '../errors.js';

export const JsonlRecordSchema = z.object({
  image: z.string().min(1),
  captions: z.array(z.string().min(1)).min(1),
  image_id: z.union([z.string(), z.number()]).optional(),
});

export function loadJsonlCaptions(file: string, options: LoadOptions = {}): CaptionDataset {
  const problems: BadSample[] = [];
  const grouper = new CaptionGrouper(file, options.imageRoot ?? dirname(file));
  readText(file).split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const record = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      problems.push({ file, record, message: `not valid JSON: ${(err as Error).message}` });
      return;
    }
    const result = JsonlRecordSchema.safeParse(value);
    if (!result.success) problems.push({ file, record, message: formatIssues(result.error) });
    else grouper.add(result.data.image, result.data.image_id, result.data.captions, record);
  });
  return finishCaptions(file, grouper.images, problems, options);
}
