// How a `dlip distill` run was started: the command line, its options after defaults, and the recipe as
// it was read, kept in <out>/run.json so that `dlip report` can show them after the recipe file changed.
import { readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../io/atomic.js';
import { DistillConfigSchema } from './distill.js';
import type { DistillConfigInput } from './distill.js';
import { loadRecipe } from './recipe.js';

export const RUN_RECORD_FILE = 'run.json';

const RunRecordSchema = z.object({
  command: z.array(z.string()),
  options: z.record(z.string(), z.unknown()),
  recipe: z.object({ source: z.string(), value: z.unknown() }),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/**
 * Writes run.json for a run about to start; a resumed run keeps the record of its start. Options that
 * do not parse or a recipe that does not load write nothing: distill() then reports them.
 */
export async function recordDistillRun(input: DistillConfigInput, command: string[]): Promise<void> {
  const parsed = DistillConfigSchema.safeParse(input);
  if (!parsed.success || parsed.data.resume) return;
  let recipe: RunRecord['recipe'];
  try {
    const { source } = loadRecipe(parsed.data.recipe);
    recipe = { source, value: JSON.parse(readFileSync(source, 'utf8')) };
  } catch {
    return;
  }
  await mkdir(parsed.data.out, { recursive: true });
  await writeJsonAtomic(join(parsed.data.out, RUN_RECORD_FILE), { command, options: parsed.data, recipe });
}

/** The run's record, if it has one; a malformed one is an error naming the file. */
export async function readRunRecord(dir: string): Promise<RunRecord | undefined> {
  const file = join(dir, RUN_RECORD_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = RunRecordSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
