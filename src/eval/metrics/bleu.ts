// Corpus-level BLEU-1..4 with the semantics of pycocoevalcap's bleu_scorer.py run with the
// "closest" reference length option (which is what its Bleu class asks for).
import { type Candidates, type References, pairCaptions } from './corpus.js';
import { countNgrams } from './ngrams.js';

const MAX_N = 4;
// The official scorer adds these to every ratio so that a zero count never gives 0/0 or log(0);
// they are part of the published numbers (a BLEU-4 with no 4-gram match is ~1e-4, not 0).
const TINY = 1e-15;
const SMALL = 1e-9;

export interface BleuOptions {
  /** Multiplies every BLEU-n; 1 (the default, as pycocoevalcap returns) or 100 as papers print. */
  readonly scale?: number;
}

export interface BleuResult {
  /** [BLEU-1, BLEU-2, BLEU-3, BLEU-4], multiplied by `scale`. */
  readonly bleu: readonly [number, number, number, number];
  /** BLEU-4, multiplied by `scale`. */
  readonly bleu4: number;
  /** Total candidate words. */
  readonly testLength: number;
  /** Sum over images of the closest reference length. */
  readonly refLength: number;
}

/** Sufficient statistics of one image: clipped matches and candidate n-grams per order, lengths. */
interface BleuStats {
  readonly correct: number[];
  readonly guess: number[];
  readonly testLength: number;
  readonly refLength: number;
}

/**
 * The reference length closest to the candidate's; on a tie the shorter one, since the official code
 * takes min over (|len - testlen|, len) tuples.
 */
export function closestRefLength(testLength: number, refLengths: readonly number[]): number {
  if (refLengths.length === 0) throw new Error('closestRefLength: no reference lengths');
  let best = refLengths[0]!;
  for (const len of refLengths) {
    const d = Math.abs(len - testLength);
    const bestD = Math.abs(best - testLength);
    if (d < bestD || (d === bestD && len < best)) best = len;
  }
  return best;
}

function imageStats(candidate: string, references: readonly string[]): BleuStats {
  // Clipping uses, per n-gram, the largest count found in any single reference.
  const maxRefCounts = new Map<string, number>();
  const refLengths: number[] = [];
  for (const ref of references) {
    const cooked = countNgrams(ref, MAX_N);
    refLengths.push(cooked.length);
    for (const order of cooked.counts) {
      for (const [gram, c] of order) maxRefCounts.set(gram, Math.max(maxRefCounts.get(gram) ?? 0, c));
    }
  }
  const test = countNgrams(candidate, MAX_N);
  const correct = test.counts.map((order) => {
    let matched = 0;
    for (const [gram, c] of order) matched += Math.min(maxRefCounts.get(gram) ?? 0, c);
    return matched;
  });
  const guess = test.counts.map((_, k) => Math.max(0, test.length - k));
  return { correct, guess, testLength: test.length, refLength: closestRefLength(test.length, refLengths) };
}

/**
 * Corpus BLEU-1..4: clipped n-gram counts summed over all images, geometric mean of the precisions,
 * and a brevity penalty exp(1 - r/c) when the candidates are shorter than the summed closest
 * reference lengths. Captions must already be tokenised (see tokenizeCaption).
 */
export function bleu(candidates: Candidates, references: References, options: BleuOptions = {}): BleuResult {
  const scale = options.scale ?? 1;
  const correct = new Array<number>(MAX_N).fill(0);
  const guess = new Array<number>(MAX_N).fill(0);
  let testLength = 0;
  let refLength = 0;
  for (const pair of pairCaptions(candidates, references)) {
    const s = imageStats(pair.candidate, pair.references);
    for (let k = 0; k < MAX_N; k++) {
      correct[k]! += s.correct[k]!;
      guess[k]! += s.guess[k]!;
    }
    testLength += s.testLength;
    refLength += s.refLength;
  }
  const ratio = (testLength + TINY) / (refLength + SMALL);
  const brevity = ratio < 1 ? Math.exp(1 - 1 / ratio) : 1;
  const scores: number[] = [];
  let product = 1;
  for (let k = 0; k < MAX_N; k++) {
    product *= (correct[k]! + TINY) / (guess[k]! + SMALL);
    scores.push(product ** (1 / (k + 1)) * brevity * scale);
  }
  const [b1, b2, b3, b4] = scores as [number, number, number, number];
  return { bleu: [b1, b2, b3, b4], bleu4: b4, testLength, refLength };
}
