// Small helpers shared by the benchmarks.
export function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Prints one JSON line with the process's peak resident memory added. */
export function report(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ ...fields, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}
