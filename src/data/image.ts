// Image decoding and preprocessing with sharp (libvips): any JPEG/PNG/WebP, EXIF orientation
// applied, greyscale/CMYK/alpha to RGB, bicubic resize to S×S, BLIP normalisation to CHW float32.
import sharp, { type Sharp } from 'sharp';
import type { Rng } from './rng.js';

export const BLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const BLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** A crop in pixels of the upright (EXIF-oriented) image. */
export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface RandomResizedCrop {
  /** Range of the crop's area as a fraction of the image (BLIP: [0.5, 1]). */
  scale: [number, number];
  /** Range of the crop's aspect ratio (torchvision: [3/4, 4/3]). */
  ratio: [number, number];
}

export interface ImageTransform {
  size: number;
  /** Chooses a crop from the upright image's width and height. */
  crop?: (width: number, height: number) => CropBox;
  flip?: boolean;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries at a random area and log-uniform
 * aspect ratio, else a centre crop clamped to the ratio range. Written out because sharp has no
 * random crop and BLIP's augmentation is defined by this exact procedure.
 */
export function sampleCrop(width: number, height: number, params: RandomResizedCrop, rng: Rng): CropBox {
  const area = width * height;
  const [lr0, lr1] = [Math.log(params.ratio[0]), Math.log(params.ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(params.scale[0], params.scale[1]);
    const aspect = Math.exp(rng.uniform(lr0, lr1));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { left: rng.int(0, width - w), top: rng.int(0, height - h), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < params.ratio[0]) h = Math.round(w / params.ratio[0]);
  else if (inRatio > params.ratio[1]) w = Math.round(h * params.ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** Upright sRGB pipeline: EXIF rotation, alpha dropped (as PIL's convert('RGB')), grey/CMYK to sRGB. */
function upright(input: string | Buffer): Sharp {
  return sharp(input, { failOn: 'error' }).autoOrient().removeAlpha().toColourspace('srgb');
}

/** Decoded, transformed pixels: HWC uint8 RGB, size × size. */
export async function loadRgb(input: string | Buffer, transform: ImageTransform): Promise<Buffer> {
  const { size, crop, flip } = transform;
  let pipeline = upright(input);
  if (crop) {
    // Decoding the upright image first gives the crop its true size and makes its coordinates
    // refer to the upright image, whatever order sharp applies rotation and extraction in.
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    pipeline = sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).extract(crop(info.width, info.height));
  }
  if (flip) pipeline = pipeline.flop();
  const { data, info } = await pipeline
    .resize(size, size, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  return data;
}

/** HWC uint8 → normalised CHW float32, written into `out` at `offset` (floats). */
export function normaliseToChw(rgb: Uint8Array, size: number, out: Float32Array = new Float32Array(3 * size * size), offset = 0): Float32Array {
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * BLIP_STD[c]!);
    const shift = BLIP_MEAN[c]! / BLIP_STD[c]!;
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = rgb[i * 3 + c]! * scale - shift;
  }
  return out;
}

/** Decode + transform + normalise one image to CHW float32. */
export async function loadImageChw(input: string | Buffer, transform: ImageTransform): Promise<Float32Array> {
  return normaliseToChw(await loadRgb(input, transform), transform.size);
}
