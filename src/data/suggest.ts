// "Did you mean …?" for misspelt keys. Written out because no dependency exports one (commander's
// suggestSimilar is internal to it) and a few lines of Levenshtein distance do the job.

/** Edit distance (insertions, deletions, substitutions), case-insensitive. */
function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[t.length]!;
}

/**
 * The candidate `word` most likely meant: one it abbreviates or extends ("validation" → "val",
 * "image" → "imageList"), else the nearest if at most half the longer name's length away.
 */
export function nearestName(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const byDistance = (names: readonly string[]) => names.map((name) => ({ name, distance: editDistance(word, name) })).sort((a, b) => a.distance - b.distance)[0];
  const prefixed = byDistance(candidates.filter((name) => w.startsWith(name.toLowerCase()) || name.toLowerCase().startsWith(w)));
  if (prefixed) return prefixed.name;
  const nearest = byDistance(candidates);
  return nearest && nearest.distance <= Math.max(2, Math.floor(Math.max(w.length, nearest.name.length) / 2)) ? nearest.name : undefined;
}
