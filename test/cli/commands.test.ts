// Every command documents every option, and every `npx dlip ...` example in the README parses
// against the real command tree (an option renamed or removed breaks this test, not a user).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { initBackend } from '../../src/engine/backend.js';
import { packageRoot } from '../../src/paths.js';
import { buildProgram } from '../../src/cli/program.js';

before(async () => {
  await initBackend('cpu');
});

function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap(allCommands)];
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The README's `npx dlip …` command lines, without comments, split into words. */
function readmeExamples(): string[][] {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  const lines = [...readme.matchAll(/npx dlip ([^`\n]*)/g)].map((m) => m[1]!.split(/\s+#/)[0]!.split('&&')[0]!.trim());
  return lines.filter((l) => !l.includes('<')).map((l) => l.split(/\s+/).filter(Boolean)); // `<preset>` is a placeholder
}

/** Parses `args` as the CLI would, with every action replaced by one that records which command ran. */
async function parse(args: string[]): Promise<string> {
  const program = buildProgram();
  let ran = '';
  for (const command of allCommands(program)) {
    command.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    if (command.commands.length === 0) command.action(() => void (ran = fullName(command)));
  }
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError && err.code === 'commander.helpDisplayed') return 'help';
    throw err;
  }
  return ran;
}

describe('dlip commands', () => {
  it('lists each option of each command in its --help, with a description', () => {
    const commands = allCommands(buildProgram());
    assert.ok(commands.length >= 8, `only ${commands.length} commands`);
    for (const command of commands) {
      const help = command.helpInformation();
      assert.ok(command.description().length > 0, `${fullName(command)} has no description`);
      for (const option of command.options) {
        assert.ok(help.includes(option.flags), `${fullName(command)} --help lacks ${option.flags}`);
        assert.ok(option.description.length > 0, `${fullName(command)} ${option.flags} has no description`);
      }
    }
  });

  it('parses every example the README shows', async () => {
    const examples = readmeExamples();
    assert.ok(examples.length >= 10, `found ${examples.length} examples`);
    for (const args of examples) {
      const ran = await parse(args).catch((err: Error) => assert.fail(`npx dlip ${args.join(' ')}: ${err.message}`));
      assert.ok(ran === 'help' || ran.startsWith('dlip '), `npx dlip ${args.join(' ')} ran no command`);
    }
  });

  it('rejects what a user could mistype', async () => {
    await assert.rejects(parse(['eval', '--model', 'm', '--no-such-flag']), /unknown option '--no-such-flag'/);
    await assert.rejects(parse(['eval', '--model', 'm', '--tasks', 'ocr']), /unknown task/);
    await assert.rejects(parse(['eval']), /required option '--model/);
    for (const flag of ['--k', '--beams', '--max-length', '--limit', '--batch-size']) {
      await assert.rejects(parse(['eval', '--model', 'm', flag, '0']), /positive/, `${flag} 0`);
    }
    await assert.rejects(parse(['pretrain', '--image-size', '0']), /positive/);
  });
});
