// Small helpers shared by the benchmarks.
export function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export { median } from '../src/eval/latency.js';

/** Prints one JSON line with the process's peak resident memory added. */
export function report(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ ...fields, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}
