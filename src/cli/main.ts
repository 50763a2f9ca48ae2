#!/usr/bin/env node
// The `dlip` command: a thin layer over the library API. Each sub-command lives in cli/commands/.
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // Expected failures (bad input, missing files) print one readable line; DLIP_DEBUG shows the stack.
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`dlip: ${message}\n`);
  if (process.env.DLIP_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
