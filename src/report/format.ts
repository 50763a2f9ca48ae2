// Number formats shared by the report's tables.

export const score = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(1));
export const percent = (x: number | undefined): string => (x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
export const ratio = (x: number | undefined): string => (x === undefined ? '—' : `${x.toFixed(2)}×`);
export const signed = (x: number | undefined): string => (x === undefined ? '—' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`);
export const ms = (x: number | undefined): string => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toPrecision(3));

/** 24290367 → "24.29 M"; 1.2e9 → "1.20 G". */
export function count(n: number | undefined): string {
  if (n === undefined) return '—';
  for (const [scale, unit] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) if (n >= scale) return `${(n / scale).toFixed(2)} ${unit}`;
  return String(n);
}

/** A command line as one could paste it into a POSIX shell. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
