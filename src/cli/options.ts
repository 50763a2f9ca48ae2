// Parsing of option values shared by commands, with errors that name the bad value.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { ON_BAD_SAMPLE } from '../data/errors.js';

export function int(value: string): number {
  const n = Number(value);
  // Number('') is 0: an empty value is no number.
  if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`"${value}" is not an integer`);
  return n;
}

export function positiveInt(value: string): number {
  const n = int(value);
  if (n < 1) throw new InvalidArgumentError(`"${value}" is not a positive integer (1 or more)`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = int(value);
  if (n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative integer (0 or more)`);
  return n;
}

export function num(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`"${value}" is not a number`);
  return n;
}

export function positiveNum(value: string): number {
  const n = num(value);
  if (n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive number`);
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

/** --on-bad-sample, on every command that reads data (its default, fail, lives with each command's defaults). */
export function onBadSampleOption(): Option {
  return new Option('--on-bad-sample <policy>', 'a malformed record or a missing or undecodable image: fail (stop, naming it; default) or skip (leave it out, with a warning)').choices(ON_BAD_SAMPLE);
}

/** The options `dlip pretrain` and `dlip finetune` share (their defaults live in PretrainConfigSchema). */
export function addTrainingOptions(command: Command): Command {
  return command
    .option('--config <file>', 'JSON file with any of these options (command-line flags win)')
    .option('--data <dataset.json>', 'a dataset manifest (see `dlip data synth`); default: the built-in world')
    .option('--world <size>', 'built-in world size when --data is absent: tiny, small, large (default small)')
    .addOption(onBadSampleOption())
    .option('--image-size <px>', "train at this image side instead of the model config's (a multiple of its patch size; a checkpoint's position grid is resized bicubically)", positiveInt)
    .option('--epochs <n>', 'epochs to train (default 1)', positiveInt)
    .option('--steps <n>', 'optimizer steps to train (overrides --epochs)', positiveInt)
    .option('--batch-size <n>', 'images per batch (default 32)', positiveInt)
    .option('--accumulate <n>', 'micro-batches per optimizer step (default 1)', positiveInt)
    .option('--lr <x>', 'peak learning rate (default 3e-4), warm-up then cosine decay', positiveNum)
    .option('--warmup-steps <n>', 'linear warm-up steps (default 100)', nonNegativeInt)
    .option('--clip-norm <x>', 'clip the global gradient norm to this (default: no clipping)', positiveNum)
    .option('--queue-size <n>', 'ITC momentum queue length (BLIP: 57600); 0 = plain in-batch InfoNCE, no momentum encoders (default 0)', nonNegativeInt)
    .option('--eval-every <n>', 'steps between validation runs on the val split; the best model goes to best/ (default: at the end)', positiveInt)
    .option('--eval-images <n>', 'validation images per evaluation (default 200)', positiveInt)
    .option('--checkpoint-every <n>', 'steps between checkpoints (default 200)', positiveInt)
    .option('--seed <n>', 'seed for init, data order, augmentation and sampling (default 0)', int)
    .option('--resume', 'continue the run in --out from its last checkpoint (refused if there is none or the run finished)');
}

/** A command's options: those of --config, overridden by the flags given. */
export async function mergedOptions(opts: Record<string, unknown>): Promise<Record<string, unknown>> {
  const fromFile = opts.config ? await readConfigFile(String(opts.config)) : {};
  const flags = Object.fromEntries(Object.entries(opts).filter(([k, v]) => k !== 'config' && v !== undefined));
  return { ...fromFile, ...flags };
}
