// The compiled `dlip` command beside the compiled tests, so a build into any outDir tests itself.
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
