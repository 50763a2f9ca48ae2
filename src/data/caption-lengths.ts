// Caption generation lengths that fit a data set. BLIP counts [DEC] and the prompt inside its
// max/min length (20 / 5), which cuts longer captions short; a data set states its own lengths,
// derived from its training captions, so the generated captions can be as long as its references.
import { preCaption } from './text.js';
import type { BlipTokenizer } from './tokenizer.js';

/** BLIP's captioning prompt, placed after [DEC] and not predicted. */
export const BLIP_CAPTION_PROMPT = 'a picture of ';

/** Generation lengths counted as BLIP counts them: the whole sequence, [DEC] and prompt included. */
export interface GenerationLengths {
  maxLength: number;
  minLength: number;
}

/** BLIP's captioner defaults. */
export const BLIP_GENERATION_LENGTHS: GenerationLengths = { maxLength: 20, minLength: 5 };

/**
 * Lengths that let generation write the longest caption (plus its [SEP]) and stop no sooner than the
 * shortest one, after [DEC] + `prompt`, with captions cleaned by pre_caption as in training.
 */
export function fitGenerationLengths(captions: readonly string[], tokenizer: BlipTokenizer, maxWords = 30, prompt = BLIP_CAPTION_PROMPT): GenerationLengths {
  if (captions.length === 0) throw new Error('fitGenerationLengths: no captions');
  const inner = (text: string) => tokenizer.tokenize(text).length;
  const prefix = 1 + inner(prompt);
  let longest = 0;
  let shortest = Infinity;
  for (const caption of captions) {
    const n = inner(preCaption(caption, maxWords));
    longest = Math.max(longest, n);
    shortest = Math.min(shortest, n);
  }
  return { maxLength: prefix + longest + 1, minLength: prefix + shortest };
}
