// Picks the caption loader from the file: by extension for text formats, by shape for JSON.
import { extname } from 'node:path';
import { DataError } from '../errors.js';
import { loadCocoCaptions } from './coco.js';
import type { CaptionDataset, LoadOptions } from './common.js';
import { readJson } from './common.js';
import { loadFlickrTokens } from './flickr.js';
import { loadJsonlCaptions } from './jsonl.js';
import { loadKarpathy } from './karpathy.js';

export const CAPTION_FORMATS = ['karpathy', 'coco', 'flickr', 'jsonl'] as const;
export type CaptionFormat = (typeof CAPTION_FORMATS)[number];

export function detectCaptionFormat(file: string): CaptionFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl') return 'jsonl';
  if (ext === '.token' || ext === '.txt') return 'flickr';
  if (ext === '.json') {
    const value = readJson(file);
    if (Array.isArray(value)) return 'karpathy';
    if (value && typeof value === 'object' && 'annotations' in value && 'images' in value) return 'coco';
    throw new DataError(`${file}: neither a Karpathy-split list nor a COCO captions object ({images, annotations})`);
  }
  throw new DataError(`${file}: cannot tell the caption format from the extension "${ext}"; give it (${CAPTION_FORMATS.join(', ')})`);
}

export function loadCaptions(file: string, options: LoadOptions & { format?: CaptionFormat } = {}): CaptionDataset {
  const format = options.format ?? detectCaptionFormat(file);
  switch (format) {
    case 'karpathy': return loadKarpathy(file, options);
    case 'coco': return loadCocoCaptions(file, options);
    case 'flickr': return loadFlickrTokens(file, options);
    case 'jsonl': return loadJsonlCaptions(file, options);
  }
}
