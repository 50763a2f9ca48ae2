// Picks the caption loader from the file: by extension and first line for text formats, by shape for JSON.
import { extname } from 'node:path';
import { DataError } from '../errors.js';
import { loadCocoCaptions } from './coco.js';
import type { CaptionDataset, LoadOptions } from './common.js';
import { readJson, readText } from './common.js';
import { isCsvHeader, loadCsvCaptions } from './csv.js';
import { loadFlickrTokens } from './flickr.js';
import { loadJsonlCaptions } from './jsonl.js';
import { loadKarpathy } from './karpathy.js';
import { loadKarpathyDataset } from './karpathy-dataset.js';

export const CAPTION_FORMATS = ['karpathy', 'karpathy-dataset', 'coco', 'flickr', 'csv', 'jsonl'] as const;
export type CaptionFormat = (typeof CAPTION_FORMATS)[number];

function jsonFormat(file: string, value: unknown): CaptionFormat {
  if (Array.isArray(value)) return 'karpathy';
  if (value && typeof value === 'object' && 'images' in value && Array.isArray(value.images)) {
    if ('annotations' in value) return 'coco';
    const first: unknown = value.images[0];
    if (first && typeof first === 'object' && 'sentences' in first) return 'karpathy-dataset';
  }
  throw new DataError(
    `${file}: not a caption file dlip reads: expected a Karpathy-split list ([{image, caption}]), ` +
      "Karpathy's dataset_*.json ({images: [{filename, split, sentences}]}) or COCO captions ({images, annotations})",
  );
}

export function detectCaptionFormat(file: string): CaptionFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.token' || ext === '.txt') return isCsvHeader(readText(file).split('\n', 1)[0]!) ? 'csv' : 'flickr';
  if (ext === '.json') return jsonFormat(file, readJson(file));
  throw new DataError(`${file}: cannot tell the caption format from the extension "${ext}"; give it (${CAPTION_FORMATS.join(', ')})`);
}

export function loadCaptions(file: string, options: LoadOptions & { format?: CaptionFormat } = {}): CaptionDataset {
  // JSON is parsed once, here, for detection and loading alike (dataset_coco.json is ~140 MB).
  const json = options.format === undefined && extname(file).toLowerCase() === '.json' ? readJson(file) : undefined;
  const format = options.format ?? (json === undefined ? detectCaptionFormat(file) : jsonFormat(file, json));
  switch (format) {
    case 'karpathy': return loadKarpathy(file, options, json);
    case 'karpathy-dataset': return loadKarpathyDataset(file, options, json);
    case 'coco': return loadCocoCaptions(file, options, json);
    case 'flickr': return loadFlickrTokens(file, options);
    case 'csv': return loadCsvCaptions(file, options);
    case 'jsonl': return loadJsonlCaptions(file, options);
  }
}
