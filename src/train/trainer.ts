// The training loop: drives a task's named loss terms with AdamW, a schedule, clipping and
// accumulation; evaluates, keeps the best model, checkpoints everything a resume needs, and stops
// cleanly on a non-finite loss. It knows nothing of BLIP: tasks supply batches, losses and state.
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { explainBackendError, tf } from '../engine/backend.js';
import { loadModel, MANIFEST_FILE, saveModel, WEIGHTS_FILE } from '../io/checkpoint.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { TensorToWrite } from '../io/safetensors.js';
import type { BlipModel } from '../models/blip.js';
import type { Module, Parameter } from '../nn/module.js';
import { AdamW, clipGradNorm } from './optimizer.js';
import type { AdamWOptions } from './optimizer.js';
import { learningRate } from './schedule.js';
import type { ScheduleOptions } from './schedule.js';

export interface StepContext {
  step: number;
  epoch: number;
  /** Seed of this step's own randomness (e.g. hard-negative sampling): a resumed run redraws the same. */
  stepSeed: number;
}

export interface LossResult {
  total: tf.Scalar;
  terms: Record<string, tf.Scalar>;
}

/** What the trainer needs from a task (pre-training, fine-tuning, distillation). */
export interface TrainTask<B> {
  /** The model trained and exported to best/ and final/. */
  model: BlipModel;
  /**
   * Modules trained beside the model but not exported (distillation's width adaptors), by name: their
   * parameters are optimised as `<name>.<parameter>` and checkpointed in `<name>.safetensors`.
   */
  extraModules?: Record<string, Module>;
  /** Batches of `epoch` in a fixed order, starting after `skip` batches. The trainer disposes none: `release` does. */
  batches(epoch: number, skip: number): AsyncIterable<B>;
  batchesPerEpoch: number;
  /** Images in a batch, for throughput. */
  batchSize(batch: B): number;
  /** Work outside the gradient tape before the loss (momentum updates); its result reaches `loss` and `after`. */
  before?(batch: B, ctx: StepContext): unknown;
  /** The weighted terms; called inside the gradient tape. */
  loss(batch: B, ctx: StepContext, prepared: unknown): LossResult;
  /** Work after the update (queues). */
  after?(batch: B, ctx: StepContext, prepared: unknown): void;
  release(batch: B): void;
  /** Validation metrics; `selectMetric` of the result picks the best checkpoint (higher is better). */
  evaluate?(): Promise<Record<string, number>>;
  selectMetric?: string;
  /** Extra state a resume needs (momentum encoders, queues), as tensors and JSON; `source` names the checkpoint in errors. */
  saveState?(): { tensors: Map<string, TensorToWrite>; json: unknown };
  loadState?(tensors: Map<string, { data: Float32Array | BigInt64Array | Int32Array }>, json: unknown, source: string): void;
  /** Samples left out as bad (--on-bad-sample skip) since the last call; each metrics line logs them as `skipped`. */
  takeSkipped?(): number;
}

export interface TrainOptions {
  outDir: string;
  /**
   * Parameter-name prefixes (whole dot-separated segments) kept fixed: no gradient, no update, no
   * weight decay. A partial fine-tune; the checkpoints still hold every weight.
   */
  freeze?: readonly string[];
  /** Stop after this many optimizer steps (default: epochs × batchesPerEpoch / accumulate). */
  steps?: number;
  epochs?: number;
  schedule: Omit<ScheduleOptions, 'totalSteps'>;
  optimizer?: AdamWOptions;
  accumulate?: number;
  clipNorm?: number;
  checkpointEvery?: number;
  evalEvery?: number;
  logEvery?: number;
  seed: number;
  resume?: boolean;
  /** Recorded in the saved models' dlip.json (see saveModel): the prompt the captions were trained after. */
  captionPrompt?: string;
}

export interface TrainEvent {
  step: number;
  totalSteps: number;
  epoch: number;
  lr: number;
  loss: number;
  terms: Record<string, number>;
  imagesPerSecond: number;
}

export interface TrainHooks {
  onStep?(event: TrainEvent): void;
  onEval?(step: number, metrics: Record<string, number>): void;
  onCheckpoint?(step: number, dir: string): void;
  /** Something the user should know that does not stop the run (default: printed on stderr). */
  onWarning?(message: string): void;
}

export interface TrainResult {
  /** The step the run ended at, and the one it started from (0, or where it resumed). */
  steps: number;
  startStep: number;
  finalDir: string;
  bestDir?: string;
  best?: { step: number; metrics: Record<string, number> };
  lastLoss: number;
  seconds: number;
}

const TrainerStateSchema = z.object({
  step: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  batchInEpoch: z.number().int().nonnegative(),
  seed: z.number(),
  best: z.object({ step: z.number(), metrics: z.record(z.string(), z.number()) }).optional(),
  /** The last step's loss, so a run resumed at its end still reports it. */
  loss: z.number().optional(),
  /** Names of the task's extra modules, when it has any, so a resume with other modules is refused. */
  extraModules: z.array(z.string()).optional(),
  task: z.unknown().optional(),
});
type TrainerState = z.infer<typeof TrainerStateSchema>;

export const CHECKPOINT_DIR = 'checkpoint';
export const BEST_DIR = 'best';
export const FINAL_DIR = 'final';
export const METRICS_LOG = 'metrics.jsonl';

/** Reports a warning through `hooks.onWarning`, else on stderr. */
export function warn(hooks: TrainHooks, message: string): void {
  if (hooks.onWarning) hooks.onWarning(message);
  else console.warn(`dlip: warning: ${message}`);
}

/** Mixes seed and step into a 32-bit seed for that step's randomness. */
export function stepSeed(seed: number, step: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ step, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return Math.imul(h, 0xc2b2ae35) >>> 0;
}

/** Checkpoint files an extra module's `<name>.safetensors` must not replace. */
const CHECKPOINT_FILES = [WEIGHTS_FILE, 'optimizer.safetensors', 'task.safetensors'];

const extraFile = (name: string) => `${name}.safetensors`;

/**
 * The parameters to optimise: the model's, then each extra module's under `<name>.`. Refuses names
 * that are no plain file name or could be confused with the model's parameters, and values not yet set.
 */
function trainedParameters(model: BlipModel, extras: Record<string, Module>): Map<string, Parameter> {
  const params = model.namedParameters();
  const owner = new Map<Parameter, string>([...params.values()].map((p) => [p, 'the model']));
  for (const [name, module] of Object.entries(extras)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) throw new Error(`extra module name "${name}" must be a letter followed by letters, digits, _ or -`);
    if (CHECKPOINT_FILES.includes(extraFile(name))) throw new Error(`extra module name "${name}" would overwrite the checkpoint's ${extraFile(name)}; choose another`);
    const clash = [...params.keys()].find((key) => key === name || key.startsWith(`${name}.`));
    if (clash) throw new Error(`extra module name "${name}" clashes with the model's parameter ${clash}; choose another`);
    for (const [key, p] of module.namedParameters()) {
      if (owner.has(p)) throw new Error(`extra module "${name}": parameter ${key} is also ${owner.get(p)}'s (it would be updated twice)`);
      if (!p.materialized) throw new Error(`extra module "${name}": parameter ${key} has no value (initialise the module before training)`);
      owner.set(p, `extra module "${name}"`);
      params.set(`${name}.${key}`, p);
    }
  }
  return params;
}

/** `params` less those under a `freeze` prefix; each prefix must name something, and something must remain. */
function withoutFrozen(params: Map<string, Parameter>, freeze: readonly string[]): Map<string, Parameter> {
  if (freeze.length === 0) return params;
  const under = (name: string, prefix: string) => name === prefix || name.startsWith(`${prefix}.`);
  const unmatched = freeze.filter((prefix) => ![...params.keys()].some((name) => under(name, prefix)));
  if (unmatched.length) {
    const roots = [...new Set([...params.keys()].map((name) => name.split('.')[0]))].join(', ');
    throw new Error(`--freeze ${unmatched.join(', ')}: no parameter of the model is named so (prefixes are whole name segments under ${roots})`);
  }
  const kept = new Map([...params].filter(([name]) => !freeze.some((prefix) => under(name, prefix))));
  if (kept.size === 0) throw new Error(`--freeze ${freeze.join(', ')} leaves no parameter to train`);
  return kept;
}

/** Restores an extra module from `<dir>/<name>.safetensors`, which must hold exactly its parameters. */
async function loadExtraModule(dir: string, name: string, module: Module): Promise<void> {
  const path = join(dir, extraFile(name));
  const tensors = await readSafetensors(path);
  const params = module.namedParameters();
  const missing = [...params.keys()].filter((key) => !tensors.has(key));
  const unknown = [...tensors.keys()].filter((key) => !params.has(key));
  if (missing.length || unknown.length) {
    const parts = [missing.length ? `lacks ${missing.slice(0, 3).join(', ')}` : '', unknown.length ? `holds unknown ${unknown.slice(0, 3).join(', ')}` : ''];
    throw new Error(`${path}: does not fit extra module "${name}" (${parts.filter(Boolean).join('; ')}): resume with the modules the run was trained with`);
  }
  for (const [key, p] of params) {
    const t = tensors.get(key)!;
    if (t.dtype !== 'F32' || t.shape.join() !== p.shape.join()) {
      throw new Error(`${path}: ${key} is ${t.dtype} [${t.shape.join(',')}], extra module "${name}" expects F32 [${p.shape.join(',')}]`);
    }
    p.assign(t.data);
  }
}

/** Writes a checkpoint folder whole, then swaps it in, so a kill leaves the previous one usable. */
async function writeCheckpoint(options: TrainOptions, task: TrainTask<unknown>, optimizer: AdamW, state: TrainerState): Promise<string> {
  const outDir = options.outDir;
  const final = join(outDir, CHECKPOINT_DIR);
  const tmp = join(outDir, `${CHECKPOINT_DIR}.tmp`);
  const old = join(outDir, `${CHECKPOINT_DIR}.old`);
  await rm(tmp, { recursive: true, force: true });
  await saveModel(task.model, tmp, { captionPrompt: options.captionPrompt });
  for (const [name, module] of Object.entries(task.extraModules ?? {})) {
    const tensors = new Map<string, TensorToWrite>();
    for (const [key, p] of module.namedParameters()) tensors.set(key, { shape: [...p.shape], data: () => p.value.dataSync() as Float32Array });
    await writeSafetensors(join(tmp, extraFile(name)), tensors);
  }
  await writeSafetensors(join(tmp, 'optimizer.safetensors'), optimizer.stateTensors());
  const extra = task.saveState?.();
  if (extra) await writeSafetensors(join(tmp, 'task.safetensors'), extra.tensors);
  await writeJsonAtomic(join(tmp, 'trainer.json'), { ...state, task: extra?.json });
  await rm(old, { recursive: true, force: true });
  if (existsSync(final)) await rename(final, old);
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
  return final;
}

async function findCheckpoint(outDir: string): Promise<string | undefined> {
  for (const name of [CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`]) {
    const dir = join(outDir, name);
    if (existsSync(join(dir, 'trainer.json'))) return dir;
  }
  return undefined;
}

/** Keeps the metrics log consistent with a resumed checkpoint: entries after its step are dropped. */
async function truncateLog(path: string, step: number): Promise<void> {
  if (!existsSync(path)) return;
  const kept = (await readFile(path, 'utf8'))
    .split('\n')
    .filter((line) => {
      try {
        return (JSON.parse(line) as { step: number }).step <= step;
      } catch {
        return false; // blank, or torn by the kill
      }
    });
  await writeFile(path, kept.map((l) => `${l}\n`).join(''));
}

export async function train<B>(task: TrainTask<B>, options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const started = Date.now();
  const accumulate = options.accumulate ?? 1;
  const stepsPerEpoch = Math.max(1, Math.floor(task.batchesPerEpoch / accumulate));
  const totalSteps = options.steps ?? (options.epochs ?? 1) * stepsPerEpoch;
  const schedule: ScheduleOptions = { ...options.schedule, totalSteps };
  const logPath = join(options.outDir, METRICS_LOG);
  const finalDir = join(options.outDir, FINAL_DIR);

  const extras = task.extraModules ?? {};
  const extraNames = Object.keys(extras).sort();
  const params = withoutFrozen(trainedParameters(task.model, extras), options.freeze ?? []); // refuses bad extra modules and prefixes before anything is written
  const existing = await findCheckpoint(options.outDir);
  let resumed: TrainerState | undefined;
  if (options.resume) {
    if (!existing) throw new Error(`cannot resume: ${options.outDir} holds no checkpoint (${join(CHECKPOINT_DIR, 'trainer.json')}); run without --resume to start afresh`);
    resumed = TrainerStateSchema.parse(JSON.parse(await readFile(join(existing, 'trainer.json'), 'utf8')));
    if (resumed.seed !== options.seed) throw new Error(`${existing}: checkpoint was trained with seed ${resumed.seed}, not ${options.seed} (resume with --seed ${resumed.seed})`);
    const trainedWith = resumed.extraModules ?? [];
    if (trainedWith.join() !== extraNames.join()) {
      const list = (names: string[]) => (names.length ? names.join(', ') : 'none');
      throw new Error(`${existing}: checkpoint was trained with extra modules ${list(trainedWith)}, this task has ${list(extraNames)}`);
    }
    // A run killed between its last checkpoint and final/ resumes to write final/; a complete one has nothing left.
    if (resumed.step >= totalSteps && existsSync(join(finalDir, MANIFEST_FILE))) {
      throw new Error(`${options.outDir}: the run already finished (step ${resumed.step} of ${totalSteps}; model in ${finalDir}), nothing to resume`);
    }
  } else if (existing) {
    throw new Error(`${options.outDir} already holds a run (${existing}); pass --resume to continue it or choose another --out`);
  }
  if (schedule.warmupSteps > totalSteps) {
    warn(hooks, `the run's ${totalSteps} steps end inside the ${schedule.warmupSteps}-step warm-up: the learning rate peaks at ${learningRate(totalSteps - 1, schedule).toPrecision(3)}, not ${schedule.lr} (lower --warmup-steps)`);
  }
  await mkdir(options.outDir, { recursive: true });
  const modelParams = task.model.namedParameters();
  const optimizer = new AdamW(params, options.optimizer);
  try {
    const fresh: TrainerState = { step: 0, epoch: 0, batchInEpoch: 0, seed: options.seed, ...(extraNames.length ? { extraModules: extraNames } : {}) };
    const state: TrainerState = resumed ?? fresh;
    if (existing && resumed) {
      const { model } = await loadModel(existing, { architecture: task.model.architecture });
      const loaded = model.namedParameters();
      for (const [name, p] of modelParams) p.value.assign(loaded.get(name)!.value);
      model.dispose();
      for (const name of extraNames) await loadExtraModule(existing, name, extras[name]!);
      optimizer.loadState(await readSafetensors(join(existing, 'optimizer.safetensors')), state.step, existing);
      if (task.loadState) task.loadState(await readSafetensors(join(existing, 'task.safetensors')), state.task, existing);
      await truncateLog(logPath, state.step);
    } else {
      await rm(logPath, { force: true }); // a run killed before its first checkpoint leaves a log to start over
    }
    const startStep = state.step;

    const log = (entry: object) => appendFile(logPath, `${JSON.stringify(entry)}\n`);
    const variables = optimizer.variables;
    let lastLoss = state.loss ?? NaN;
    let lastCheckpoint: string | undefined = existing;

    const evaluate = async () => {
      if (!task.evaluate) return;
      const metrics = await task.evaluate();
      hooks.onEval?.(state.step, metrics);
      await log({ step: state.step, eval: metrics });
      const key = task.selectMetric;
      if (key && metrics[key] !== undefined && (!state.best || metrics[key]! > state.best.metrics[key]!)) {
        state.best = { step: state.step, metrics };
        await saveModel(task.model, join(options.outDir, BEST_DIR), { captionPrompt: options.captionPrompt });
      }
    };

    let windowStart = Date.now();
    let windowImages = 0;
    while (state.step < totalSteps) {
      let grads: tf.NamedTensorMap | undefined;
      let micro = 0;
      let termSums: Record<string, number> = {};
      let lossSum = 0;
      let stopped = false;
      for await (const batch of task.batches(state.epoch, state.batchInEpoch)) {
        const ctx: StepContext = { step: state.step, epoch: state.epoch, stepSeed: stepSeed(options.seed, state.step * accumulate + micro) };
        const prepared = task.before?.(batch, ctx);
        let terms: Record<string, number> = {};
        let step: { value: tf.Scalar; grads: tf.NamedTensorMap };
        try {
          step = tf.variableGrads(() => {
            const result = task.loss(batch, ctx, prepared);
            terms = Object.fromEntries(Object.entries(result.terms).map(([k, t]) => [k, t.dataSync()[0]!]));
            return result.total;
          }, variables);
        } catch (err) {
          throw explainBackendError(err, `training step ${state.step} on a batch of ${task.batchSize(batch)}`);
        }
        const { value, grads: g } = step;
        const loss = value.dataSync()[0]!;
        value.dispose();
        if (!Number.isFinite(loss)) {
          tf.dispose(Object.values(g));
          if (grads) tf.dispose(Object.values(grads));
          task.release(batch);
          const where = lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint}` : 'no checkpoint was written yet';
          throw new Error(`loss became ${loss} at step ${state.step} (terms: ${JSON.stringify(terms)}); stopped without saving, ${where}. Lower the learning rate or check the data.`);
        }
        if (grads) {
          for (const k of Object.keys(g)) {
            const sum = tf.add(grads[k]!, g[k]!);
            grads[k]!.dispose();
            g[k]!.dispose();
            grads[k] = sum;
          }
        } else grads = g;
        lossSum += loss;
        for (const [k, v] of Object.entries(terms)) termSums[k] = (termSums[k] ?? 0) + v;
        windowImages += task.batchSize(batch);
        micro++;
        state.batchInEpoch++;
        const epochDone = state.batchInEpoch >= task.batchesPerEpoch;
        if (micro === accumulate || epochDone) {
          if (micro > 1) {
            for (const k of Object.keys(grads)) {
              const sum = grads[k]!;
              grads[k] = tf.div(sum, micro);
              sum.dispose();
            }
          }
          if (options.clipNorm) clipGradNorm(grads, options.clipNorm);
          const lr = learningRate(state.step, schedule);
          optimizer.apply(grads, lr);
          tf.dispose(Object.values(grads));
          grads = undefined;
          task.after?.(batch, ctx, prepared);
          task.release(batch);
          lastLoss = lossSum / micro;
          state.loss = lastLoss;
          const averaged = Object.fromEntries(Object.entries(termSums).map(([k, v]) => [k, v / micro]));
          state.step++;
          if (epochDone) {
            state.epoch++;
            state.batchInEpoch = 0;
          }
          const seconds = (Date.now() - windowStart) / 1000;
          const event: TrainEvent = { step: state.step, totalSteps, epoch: state.epoch, lr, loss: lastLoss, terms: averaged, imagesPerSecond: windowImages / Math.max(seconds, 1e-9) };
          hooks.onStep?.(event);
          if (state.step % (options.logEvery ?? 10) === 0 || state.step === totalSteps) {
            // Process RSS and live tensors make a leak visible in the log of any long run.
            const memory = { rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20), tensors: tf.memory().numTensors };
            const skipped = task.takeSkipped ? { skipped: task.takeSkipped() } : {};
            await log({ step: state.step, epoch: state.epoch, lr, loss: lastLoss, terms: averaged, images_per_s: event.imagesPerSecond, elapsed_s: (Date.now() - started) / 1000, ...memory, ...skipped });
            windowStart = Date.now();
            windowImages = 0;
          }
          micro = 0;
          lossSum = 0;
          termSums = {};
          // The last step's evaluation comes after the final save, so a failing one loses nothing.
          if (options.evalEvery && state.step % options.evalEvery === 0 && state.step < totalSteps) await evaluate();
          if (options.checkpointEvery && state.step % options.checkpointEvery === 0 && state.step < totalSteps) {
            lastCheckpoint = await writeCheckpoint(options, task as TrainTask<unknown>, optimizer, state);
            hooks.onCheckpoint?.(state.step, lastCheckpoint);
          }
          if (state.step >= totalSteps || epochDone) {
            stopped = true;
            break;
          }
        } else {
          task.after?.(batch, ctx, prepared);
          task.release(batch);
        }
      }
      if (grads) tf.dispose(Object.values(grads));
      // Samples skipped as bad end an epoch's stream early, by a batch or more: the epoch is over.
      if (!stopped) {
        if (state.batchInEpoch === 0) throw new Error(`epoch ${state.epoch} yielded no batch: were all its samples left out as bad?`);
        state.epoch++;
        state.batchInEpoch = 0;
      }
    }
    lastCheckpoint = await writeCheckpoint(options, task as TrainTask<unknown>, optimizer, state);
    hooks.onCheckpoint?.(state.step, lastCheckpoint);
    await saveModel(task.model, finalDir, { captionPrompt: options.captionPrompt });
    await evaluate();
    return {
      steps: state.step,
      startStep,
      finalDir,
      bestDir: state.best ? join(options.outDir, BEST_DIR) : undefined,
      best: state.best,
      lastLoss,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    optimizer.dispose();
  }
}
