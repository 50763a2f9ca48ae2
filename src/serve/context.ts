// What every route handler reaches: the options, the model host, the batcher, the gallery, metrics.
import { HttpError } from './errors.js';
import type { Gallery } from './gallery/gallery.js';
import type { ModelHost } from './host.js';
import type { MicroBatcher } from './batcher.js';
import type { ServeMetrics } from './metrics.js';
import type { ServeOptions } from './options.js';
import type { Capability, ModelInfo } from './protocol.js';

export interface ServeContext {
  options: ServeOptions;
  host: ModelHost;
  batcher: MicroBatcher;
  gallery?: Gallery;
  metrics: ServeMetrics;
  state: { draining: boolean };
}

const NEEDS: Record<Capability, string> = {
  embed: 'image-text embeddings need ITC heads (BlipForImageTextRetrieval or BlipForPreTraining)',
  itm: 'ITM needs an ITM head (BlipForImageTextRetrieval or BlipForPreTraining)',
  caption: 'captioning needs a caption decoder (BlipForConditionalGeneration or BlipForPreTraining)',
  vqa: 'VQA needs a VQA model (BlipForQuestionAnswering)',
};

/** The served model, which must be able to do `capability`. */
export function requireModel(ctx: ServeContext, capability?: Capability): ModelInfo {
  const info = ctx.host.info;
  if (!info) throw new HttpError(503, 'not_ready', 'no model is loaded yet; retry shortly', 1);
  if (capability && !info.capabilities.includes(capability)) {
    throw new HttpError(400, 'unsupported', `${NEEDS[capability]}; the served model ${info.spec} is a ${info.architecture}`);
  }
  return info;
}

export function requireGallery(ctx: ServeContext): Gallery {
  if (!ctx.gallery) throw new HttpError(404, 'no_gallery', 'this server has no gallery; start dlip serve with --gallery DIR');
  if (ctx.gallery.version === undefined) throw new HttpError(503, 'not_ready', 'the gallery is being indexed; retry shortly', 1);
  return ctx.gallery;
}
