// CIDEr-D with the semantics of pycocoevalcap's cider/cider_scorer.py (the "CIDEr" that COCO caption
// papers report): tf-idf n-gram vectors, clipped cosine, Gaussian length penalty, ×10.
import { type Candidates, type References, pairCaptions } from './corpus.js';
import { type NgramCounts, countNgrams } from './ngrams.js';

const MAX_N = 4;
const SIGMA = 6;

export interface CiderOptions {
  /** Multiplies every score; 1 (the default, as pycocoevalcap returns) or 100 as papers print. */
  readonly scale?: number;
}

export interface CiderResult {
  /** Mean of the per-image scores, multiplied by `scale`. */
  readonly score: number;
  /** Image id → its CIDEr-D, multiplied by `scale`. */
  readonly perImage: ReadonlyMap<string, number>;
}

/** A caption as tf-idf weights per n-gram order, their L2 norms, and its length for the penalty. */
interface TfIdfVector {
  readonly weights: readonly ReadonlyMap<string, number>[];
  readonly norms: readonly number[];
  /**
   * The official code adds up term frequencies inside `if n == 1`, where n is the 0-based order, so
   * this is the bigram count (words − 1, and 0 for an empty caption), not the word count.
   */
  readonly length: number;
}

/**
 * Document frequency: in how many images' reference sets each n-gram occurs (once per image, however
 * many of its references contain it).
 */
function documentFrequency(referenceSets: readonly (readonly NgramCounts[])[]): Map<string, number> {
  const df = new Map<string, number>();
  for (const refs of referenceSets) {
    const seen = new Set<string>();
    for (const ref of refs) for (const order of ref.counts) for (const gram of order.keys()) seen.add(gram);
    for (const gram of seen) df.set(gram, (df.get(gram) ?? 0) + 1);
  }
  return df;
}

function toVector(cooked: NgramCounts, df: ReadonlyMap<string, number>, logImages: number): TfIdfVector {
  const weights = cooked.counts.map((order) => {
    const w = new Map<string, number>();
    // An n-gram no reference contains gets df 1 (idf = log N), hence max(1, df).
    for (const [gram, tf] of order) w.set(gram, tf * (logImages - Math.log(Math.max(1, df.get(gram) ?? 0))));
    return w;
  });
  const norms = weights.map((w) => Math.sqrt([...w.values()].reduce((s, x) => s + x * x, 0)));
  const length = [...(cooked.counts[1]?.values() ?? [])].reduce((s, c) => s + c, 0);
  return { weights, norms, length };
}

/** Per-order clipped cosine of candidate vs one reference, times the length penalty. */
function similarity(cand: TfIdfVector, ref: TfIdfVector): number[] {
  const delta = cand.length - ref.length;
  const penalty = Math.exp(-(delta * delta) / (2 * SIGMA * SIGMA));
  return cand.weights.map((cw, k) => {
    const rw = ref.weights[k]!;
    let dot = 0;
    // Clipping: a candidate repeating an n-gram more than the reference earns no extra credit.
    for (const [gram, w] of cw) {
      const r = rw.get(gram) ?? 0;
      dot += Math.min(w, r) * r;
    }
    const normProduct = cand.norms[k]! * ref.norms[k]!;
    // The official code leaves the dot product undivided when either norm is 0 (it is then 0 too).
    return (normProduct !== 0 ? dot / normProduct : dot) * penalty;
  });
}

/**
 * CIDEr-D of each image and their mean. Document frequencies and log N (N = number of images) come
 * from the evaluated corpus itself, so a one-image corpus always scores 0 (every idf is log 1 = 0).
 * Per image: mean over n = 1..4 of the clipped cosines averaged over its references, ×10.
 * Captions must already be tokenised (see tokenizeCaption).
 */
export function ciderD(candidates: Candidates, references: References, options: CiderOptions = {}): CiderResult {
  const scale = options.scale ?? 1;
  const pairs = pairCaptions(candidates, references);
  const cookedRefs = pairs.map((p) => p.references.map((r) => countNgrams(r, MAX_N)));
  const df = documentFrequency(cookedRefs);
  const logImages = Math.log(pairs.length);
  const perImage = new Map<string, number>();
  let total = 0;
  pairs.forEach((pair, i) => {
    const cand = toVector(countNgrams(pair.candidate, MAX_N), df, logImages);
    // Summed per order over references, then averaged over orders and references, in the official
    // order of operations so that results agree to the last bits.
    const perOrder = new Array<number>(MAX_N).fill(0);
    for (const ref of cookedRefs[i]!) {
      similarity(cand, toVector(ref, df, logImages)).forEach((v, k) => (perOrder[k]! += v));
    }
    const meanOverOrders = perOrder.reduce((s, v) => s + v, 0) / MAX_N;
    const score = (meanOverOrders / pair.references.length) * 10;
    perImage.set(pair.id, score * scale);
    total += score;
  });
  return { score: (total / pairs.length) * scale, perImage };
}
