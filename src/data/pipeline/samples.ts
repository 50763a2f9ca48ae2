// Turning loaded annotations into the items the loader streams.
import type { CaptionDataset } from '../formats/common.js';
import { preCaption } from '../text.js';

/** One (image, caption) pair: BLIP trains on every caption of every image. */
export interface CaptionPair {
  imageId: string;
  image: string;
  caption: string;
  source: string;
}

/** Every caption of every image as its own pair, cleaned with BLIP's pre_caption. */
export function captionPairs(dataset: CaptionDataset, maxWords = 30): CaptionPair[] {
  return dataset.images.flatMap((img) => img.captions.map((c) => ({ imageId: img.imageId, image: img.image, caption: preCaption(c, maxWords), source: img.source })));
}
