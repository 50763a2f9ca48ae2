// Training at another resolution than a model's config states (--image-size): the ViT's patch grid
// changes with it, and a checkpoint's position grid is resized bicubically when loaded (positions.ts).
import type { BlipConfig } from './config.js';

/** `config` with its vision image_size set to `size`, which must be a positive multiple of the patch size. */
export function withImageSize(config: BlipConfig, size: number | undefined, source: string): BlipConfig {
  if (size === undefined || size === config.vision_config.image_size) return config;
  const patch = config.vision_config.patch_size;
  if (!Number.isInteger(size) || size <= 0 || size % patch !== 0) {
    const nearest = Math.max(1, Math.round(size / patch)) * patch;
    throw new Error(`--image-size ${size} is not a positive multiple of the patch size ${patch} of ${source}; try --image-size ${nearest}`);
  }
  return { ...config, vision_config: { ...config.vision_config, image_size: size } };
}
