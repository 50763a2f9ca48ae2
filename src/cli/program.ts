// The `dlip` command tree, built apart from running it so tests can parse what users type.
import { Command } from 'commander';
import { registerInspect } from './commands/inspect.js';
import { registerData } from './commands/data.js';
import { registerPretrain } from './commands/pretrain.js';
import { registerEval } from './commands/eval.js';
import { registerFinetune } from './commands/finetune.js';
import { registerDistill } from './commands/distill.js';
import { registerExport } from './commands/export.js';
import { registerReport } from './commands/report.js';
import { registerDelta } from './commands/delta.js';
import { registerDemo } from './commands/demo.js';
import { registerAblate } from './commands/ablate.js';
import { registerServe } from './commands/serve.js';
import { readPackageVersion } from '../version.js';
import { initBackend } from '../engine/backend.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('dlip')
    .description('Distill BLIP-style vision-language models into small, fast students and run them locally.')
    .version(readPackageVersion())
    .option('--backend <name>', 'tensor backend: native, wasm or cpu (default: $DLIP_BACKEND, else native when built, else wasm)')
    .showHelpAfterError()
    .hook('preAction', async (command) => {
      await initBackend(command.opts<{ backend?: string }>().backend);
    });
  registerDemo(program);
  registerInspect(program);
  registerData(program);
  registerPretrain(program);
  registerFinetune(program);
  registerDistill(program);
  registerEval(program);
  registerExport(program);
  registerAblate(program);
  registerReport(program);
  registerDelta(program);
  registerServe(program);
  return program;
}
