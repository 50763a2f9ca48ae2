// Task models from a pre-training model, as BLIP initialises its captioner, retriever and VQA model:
// every key the task model shares by name is copied; a decoder key that the pre-training model keeps
// only once (shared with the text encoder) comes from the text encoder's copy.
import type { BlipForPreTraining, BlipModel } from './blip.js';
import { createModel } from './blip.js';
import type { Architecture } from './config.js';

const DECODER_PREFIX = 'text_decoder.bert.';

/** The pre-training key that holds the value of task key `key`, if any. */
export function sourceKey(key: string, available: ReadonlySet<string>): string | undefined {
  if (available.has(key)) return key;
  if (key.startsWith(DECODER_PREFIX)) {
    const shared = `text_encoder.${key.slice(DECODER_PREFIX.length)}`;
    if (available.has(shared)) return shared;
  }
  return undefined;
}

/** A new task model holding copies of `pretrained`'s weights; throws naming any key it cannot fill. */
export function taskModelFrom(pretrained: BlipForPreTraining, architecture: Architecture): BlipModel {
  const source = pretrained.namedParameters();
  const available = new Set(source.keys());
  const target = createModel(pretrained.config, architecture);
  const missing: string[] = [];
  for (const [key, p] of target.namedParameters()) {
    const from = sourceKey(key, available);
    if (from) p.assign(source.get(from)!.value.dataSync() as Float32Array);
    else missing.push(key);
  }
  if (missing.length) {
    target.dispose();
    throw new Error(`a ${architecture} cannot be made from this pre-training model: ${missing.length} key(s) have no source, e.g. ${missing.slice(0, 3).join(', ')}`);
  }
  return target;
}
