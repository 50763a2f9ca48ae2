// Pairs candidate captions with their references the way pycocoevalcap's scorers expect: exactly one
// candidate per image, at least one reference, and the same set of image ids on both sides.

/** Image id → the one generated caption (pre-tokenised, space-separated). */
export type Candidates = Readonly<Record<string, string>>;
/** Image id → its ground-truth captions (pre-tokenised, space-separated). */
export type References = Readonly<Record<string, readonly string[]>>;

/** One image of a caption corpus: its candidate and its references. */
export interface CaptionPair {
  readonly id: string;
  readonly candidate: string;
  readonly references: readonly string[];
}

/**
 * The images of a corpus in the candidates' key order. Throws, naming the image, when one side has an
 * id the other lacks, when a reference list is empty, or when the corpus is empty.
 */
export function pairCaptions(candidates: Candidates, references: References): CaptionPair[] {
  const pairs: CaptionPair[] = [];
  for (const id of Object.keys(candidates)) {
    if (!Object.hasOwn(references, id)) throw new Error(`caption metrics: candidate for image "${id}" has no references`);
    const refs = references[id]!;
    if (refs.length === 0) throw new Error(`caption metrics: image "${id}" has an empty reference list`);
    pairs.push({ id, candidate: candidates[id]!, references: refs });
  }
  for (const id of Object.keys(references)) {
    if (!Object.hasOwn(candidates, id)) throw new Error(`caption metrics: image "${id}" has references but no candidate`);
  }
  if (pairs.length === 0) throw new Error('caption metrics: the corpus is empty');
  return pairs;
}
