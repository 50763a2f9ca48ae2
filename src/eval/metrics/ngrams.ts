// n-gram counting shared by BLEU and CIDEr-D. pycocoevalcap's scorers receive captions that are
// already tokenised and joined by spaces, and split them on whitespace again; so do we.

/** Counts of every n-gram of order 1..maxN, keyed by its words joined with a single space. */
export interface NgramCounts {
  /** Number of words in the caption. */
  readonly length: number;
  /** counts[k - 1] maps each k-gram to how often it occurs. */
  readonly counts: readonly ReadonlyMap<string, number>[];
}

/** Splits a pre-tokenised caption on whitespace, as Python's str.split() does. */
export function splitWords(caption: string): string[] {
  const trimmed = caption.trim();
  return trimmed === '' ? [] : trimmed.split(/\s+/u);
}

/** Counts the 1..maxN-grams of a pre-tokenised caption. */
export function countNgrams(caption: string, maxN: number): NgramCounts {
  const words = splitWords(caption);
  const counts: Map<string, number>[] = [];
  for (let k = 1; k <= maxN; k++) {
    const order = new Map<string, number>();
    for (let i = 0; i + k <= words.length; i++) {
      const gram = words.slice(i, i + k).join(' ');
      order.set(gram, (order.get(gram) ?? 0) + 1);
    }
    counts.push(order);
  }
  return { length: words.length, counts };
}
