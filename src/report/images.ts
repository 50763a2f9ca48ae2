// Images of the examples, embedded as data: URIs (the report makes no request), scaled down first so
// that a report of large photos stays small.
import { existsSync } from 'node:fs';
import sharp from 'sharp';

/** A PNG data: URI of `file` with its longer side at most `maxSide` pixels (never enlarged). */
export async function imageDataUri(file: string, maxSide: number, what: string): Promise<string> {
  if (!existsSync(file)) throw new Error(`${what}: image ${file} does not exist`);
  const png = await sharp(file)
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
    .png()
    .toBuffer()
    .catch((err: Error) => {
      throw new Error(`${what}: image ${file} cannot be decoded (${err.message})`);
    });
  return `data:image/png;base64,${png.toString('base64')}`;
}
