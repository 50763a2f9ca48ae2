// Parsing of option values shared by commands, with errors that name the bad value.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';

export function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`"${value}" is not an integer`);
  return n;
}

export function num(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`"${value}" is not a number`);
  return n;
}

/** A JSON object of options; validated by the command's own schema. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot read (${err.code ?? err.message})`);
  });
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}
