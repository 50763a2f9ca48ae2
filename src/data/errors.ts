// Bad input: every problem names its file and record, and the --on-bad-sample policy decides
// whether it stops the run (listing the first few) or is skipped with a warning.

export type OnBadSample = 'fail' | 'skip';
export const ON_BAD_SAMPLE = ['fail', 'skip'] as const;

export interface BadSample {
  file: string;
  /** Which record: "record 12", "line 40", 'image "x.jpg"'. */
  record: string;
  message: string;
}

export class DataError extends Error {
  constructor(message: string, readonly problems: readonly BadSample[] = []) {
    super(message);
    this.name = 'DataError';
  }
}

const SHOWN = 5;

export function describeBadSample(p: BadSample): string {
  return `${p.file}: ${p.record}: ${p.message}`;
}

export function formatBadSamples(problems: readonly BadSample[]): string {
  const lines = problems.slice(0, SHOWN).map((p) => `  ${describeBadSample(p)}`);
  if (problems.length > SHOWN) lines.push(`  … and ${problems.length - SHOWN} more`);
  return lines.join('\n');
}

export type Warn = (message: string) => void;
export const warnToStderr: Warn = (message) => process.stderr.write(`dlip: warning: ${message}\n`);

/** With 'fail' throws a DataError listing the first few problems; with 'skip' warns once and returns. */
export function enforcePolicy(problems: readonly BadSample[], policy: OnBadSample, what: string, warn: Warn = warnToStderr): void {
  if (problems.length === 0) return;
  const summary = `${problems.length} bad ${problems.length === 1 ? 'sample' : 'samples'} in ${what}`;
  if (policy === 'fail') {
    throw new DataError(`${summary} (use --on-bad-sample skip to leave them out):\n${formatBadSamples(problems)}`, problems);
  }
  warn(`skipped ${summary}:\n${formatBadSamples(problems)}`);
}

/** Samples left out under 'skip' since the last `take` (training logs the count per metrics line). */
export class SkipCounter {
  private count = 0;
  readonly add = (n = 1): void => {
    this.count += n;
  };
  take(): number {
    const n = this.count;
    this.count = 0;
    return n;
  }
}
