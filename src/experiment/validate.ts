// One way to report a JSON file that does not fit its schema: the file, then the first bad field.
import type { z } from 'zod';

export function parseNamed<S extends z.ZodType>(schema: S, json: unknown, source: string): z.output<S> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}
