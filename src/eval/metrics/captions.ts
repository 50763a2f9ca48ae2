// The caption metrics of COCOEvalCap as BLIP reports them, from raw (untokenised) captions.
import { bleu } from './bleu.js';
import { ciderD } from './cider.js';
import type { Candidates, References } from './corpus.js';
import { tokenizeCaption } from './tokenize.js';

export interface CaptionScores {
  /** [BLEU-1, BLEU-2, BLEU-3, BLEU-4] ×100. */
  readonly bleu: readonly [number, number, number, number];
  /** Corpus CIDEr-D ×100 (so 133.5 for a CIDEr of 1.335). */
  readonly cider: number;
}

/** Tokenises every caption (tokenizeCaption), then scores BLEU-1..4 and CIDEr-D, both ×100. */
export function evaluateCaptions(candidates: Candidates, references: References): CaptionScores {
  const tokCandidates = Object.fromEntries(Object.entries(candidates).map(([id, c]) => [id, tokenizeCaption(c)]));
  const tokReferences = Object.fromEntries(
    Object.entries(references).map(([id, refs]) => [id, refs.map(tokenizeCaption)]),
  );
  return {
    bleu: bleu(tokCandidates, tokReferences, { scale: 100 }).bleu,
    cider: ciderD(tokCandidates, tokReferences, { scale: 100 }).score,
  };
}
