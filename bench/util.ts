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

/** An integer flag ≥ min (the fallback when absent); anything else stops the bench with exit code 2, naming it. */
export function intFlag(bench: string, flag: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`${bench}: --${flag} ${raw} is not an integer ≥ ${min}\n`);
    process.exit(2);
  }
  return n;
}
