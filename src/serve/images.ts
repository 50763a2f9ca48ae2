// Checks an uploaded image before it is queued: a format dlip serves (JPEG, PNG, WebP), decodable
// headers and a pixel count within the limit, read from memory (sharp parses only the header here;
// the model worker decodes the pixels).
import sharp from 'sharp';
import type { Metadata } from 'sharp';
import { HttpError } from './errors.js';

export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
const FORMATS = new Set(['jpeg', 'png', 'webp']);

export async function checkImage(bytes: Buffer, maxPixels: number, field = 'image'): Promise<void> {
  if (bytes.length === 0) throw new HttpError(400, 'bad_image', `${field}: the image is empty`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new HttpError(400, 'bad_image', `${field}: not a readable image (${(err as Error).message}); send JPEG, PNG or WebP bytes`);
  }
  if (!meta.format || !FORMATS.has(meta.format)) {
    throw new HttpError(415, 'unsupported_image', `${field}: ${meta.format ?? 'unknown'} images are not served; send JPEG, PNG or WebP`);
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > maxPixels) {
    throw new HttpError(413, 'image_too_large', `${field}: ${meta.width}×${meta.height} = ${pixels} pixels exceeds the limit of ${maxPixels} (--max-pixels)`);
  }
  if (pixels === 0) throw new HttpError(400, 'bad_image', `${field}: the image has no pixels`);
}
