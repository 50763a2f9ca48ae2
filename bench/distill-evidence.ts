// The evidence of issue 10 §5: students distilled from one teacher with each recipe, over seeds,
// scored on the test split like the teacher, and the tables that say whether KD helps, how much of
// the teacher it keeps, which recipes carry the gain, and what the student costs. A benchmark, not
// a test: it trains. Every stage's output is saved under --out and a rerun skips what is complete, so
// a killed bench resumes where it stopped (a killed training resumes from its own checkpoint).
//   node dist/bench/distill-evidence.js --help
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, activeBackend } from '../src/engine/backend.js';
import { openDataset } from '../src/data/manifest.js';
import { builtinWorld } from '../src/data/world/synth.js';
import { distill } from '../src/distill/distill.js';
import { listRecipes, loadRecipe } from '../src/distill/recipe.js';
import { taskCost } from '../src/eval/cost.js';
import { evaluateLoaded } from '../src/eval/run.js';
import type { EvalReport, Task } from '../src/eval/run.js';
import { writeJsonAtomic, writeFileAtomic } from '../src/io/atomic.js';
import { loadModel, MANIFEST_FILE, readModelConfig } from '../src/io/checkpoint.js';
import type { Architecture } from '../src/models/config.js';
import { resolveConfig } from '../src/models/resolve.js';
import { listShippedModels, shippedModelDir } from '../src/models/shipped.js';
import { finetune } from '../src/train/finetune.js';
import { FINAL_DIR } from '../src/train/trainer.js';
import type { TrainHooks } from '../src/train/trainer.js';
import { hasCheckpoint, trainingFinished } from '../src/train/run-state.js';
import { duration } from '../src/experiment/stages.js';
import { EVIDENCE_TASKS, renderEvidence, summarize } from './distill-tables.js';
import type { CostRow, EvidenceTask, RunScores, TaskScores } from './distill-tables.js';

const HELP = `Distillation evidence: KD vs no-KD over seeds, retention of the teacher's scores, recipe ablation, cost.

  node dist/bench/distill-evidence.js --teacher <dir> --out <dir> --steps <n> [options]

For each recipe and seed: dlip distill (same student, steps, batch and data for every run), then on the
test split retrieval (mean of TR@1 and IR@1) and captioning (CIDEr) of the distilled pre-training model,
then the same dlip finetune --task vqa of it and its VQA accuracy (with --vqa-kd, a recipe with KD terms
distils its VQA model instead). The teacher is scored the same way once (its VQA after the same
finetune). Tables go to stdout, <out>/results.json and <out>/results.md.

  --teacher <dir|name>   the trained teacher: a pre-training model folder (e.g. final/ of dlip pretrain)
                         or a shipped model (tiny-teacher)
  --out <dir>            bench folder; rerun the same command to resume after a kill
  --steps <n>            distillation steps of every student
  --student <spec>       preset, config JSON or model folder (default tiny-student)
  --world <size>         built-in world: tiny, small, large (default small); or --data <dataset.json>
  --seeds <list>         seeds of the recipes in --recipes (default 0,1,2)
  --recipes <list>       recipes run on every seed (default dlip-default,no-kd)
  --ablations <list|all> recipes run on the first seed only, for the ablation table (default none;
                         all = every shipped recipe not in --recipes: ${listRecipes().join(', ')})
  --kd <recipe>          the recipe that stands for KD in the comparison (default dlip-default)
  --baseline <recipe>    the recipe that stands for no KD (default no-kd)
  --tasks <list>         retrieval,caption,vqa (default all three)
  --vqa-steps <n>        VQA fine-tuning steps of every model, teacher included (default: --steps)
  --batch-size <n>       distillation and fine-tuning batch (default 32)
  --lr <x>, --warmup-steps <n>          distillation schedule (default: dlip distill's)
  --vqa-lr <x>, --vqa-warmup-steps <n>  VQA fine-tuning schedule (default: dlip finetune's)
  --vqa-kd               a recipe with KD terms distils its VQA model from the teacher's fine-tuned one
                         (dlip distill --task vqa, same steps and schedule; task-adaptive distillation, as
                         dlip demo does); a recipe without (no-kd) is fine-tuned as without the flag
  --prompt <text>        caption prompt of distillation and caption scoring; use the teacher's
                         pre-training prompt (default none, as dlip pretrain)
  --limit <n>            score only the first n test images / questions (default all)
  --eval-images <n>      validation images of each training run's end-of-run validation (default 200)
  --checkpoint-every <n> steps between training checkpoints (default 200)
  --backend <name>       native, wasm or cpu (default: as dlip)
  --dry-run              list the stages in the order they run, with their state and estimated time
  --tables-only          write the tables from the scores saved so far; run nothing
  --help
`;

const { values: args } = parseArgs({
  options: {
    teacher: { type: 'string' }, out: { type: 'string' }, steps: { type: 'string' }, student: { type: 'string' },
    world: { type: 'string' }, data: { type: 'string' }, seeds: { type: 'string' }, recipes: { type: 'string' },
    ablations: { type: 'string' }, kd: { type: 'string' }, baseline: { type: 'string' }, tasks: { type: 'string' },
    'vqa-steps': { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, 'warmup-steps': { type: 'string' },
    'vqa-lr': { type: 'string' }, 'vqa-warmup-steps': { type: 'string' }, prompt: { type: 'string' }, limit: { type: 'string' },
    'eval-images': { type: 'string' }, 'checkpoint-every': { type: 'string' }, backend: { type: 'string' },
    'vqa-kd': { type: 'boolean' }, 'dry-run': { type: 'boolean' }, 'tables-only': { type: 'boolean' }, help: { type: 'boolean' },
  },
  strict: true,
});

function fail(message: string): never {
  process.stderr.write(`distill-evidence: ${message}\n`);
  process.exit(2);
}

function int(flag: string, min: number): number | undefined {
  const raw = args[flag as keyof typeof args] as string | undefined;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min) fail(`--${flag} ${raw}: expected an integer ≥ ${min}`);
  return n;
}

function positive(flag: string): number | undefined {
  const raw = args[flag as keyof typeof args] as string | undefined;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !(n > 0)) fail(`--${flag} ${raw}: expected a positive number`);
  return n;
}

/** Writes a JSON file atomically, creating its folder. */
async function save(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeJsonAtomic(file, value);
}

const list = (raw: string | undefined, fallback: string[]) => (raw === undefined ? fallback : raw.split(',').map((x) => x.trim()).filter(Boolean));

/** What every run's result depends on: a resumed bench must not mix runs made with other values. */
interface Settings {
  teacher: string;
  student: string;
  data?: string;
  world: 'tiny' | 'small' | 'large';
  steps: number;
  vqaSteps: number;
  batchSize: number;
  lr?: number;
  warmupSteps?: number;
  vqaLr?: number;
  vqaWarmupSteps?: number;
  /** KD recipes distil their VQA model from the teacher's (absent: every model is fine-tuned alike). */
  vqaKd?: true;
  prompt?: string;
  limit?: number;
  evalImages?: number;
}

/** Seconds per unit of work (training samples, or examples scored) by kind of stage, summed over stages run whole. */
type Timings = Record<string, { seconds: number; work: number }>;

interface Stage {
  label: string;
  /** Key of its rate in Timings. */
  kind: string;
  work: number;
  state(): 'done' | 'resumes' | 'to run';
  run(hooks: StageHooks): Promise<void>;
}

interface StageHooks extends TrainHooks {
  onScoreProgress(task: string, done: number, total: number): void;
}

/** What a score file keeps: the task numbers of the claims, and the report without per-example results. */
interface ScoreFile {
  model: string;
  split: 'test';
  scores: TaskScores;
  report: { retrieval?: EvalReport['retrieval']; caption?: Omit<NonNullable<EvalReport['caption']>, 'results'>; vqa?: Omit<NonNullable<EvalReport['vqa']>, 'results'>; seconds: Record<string, number> };
}

function taskScores(report: EvalReport): TaskScores {
  const scores: TaskScores = {};
  if (report.retrieval) scores.retrieval = (report.retrieval.recall[1]! + report.retrieval.imageRecall[1]!) / 2;
  if (report.caption) scores.caption = report.caption.cider;
  if (report.vqa) scores.vqa = report.vqa.accuracy;
  return scores;
}

async function main(): Promise<void> {
  if (args.help) {
    process.stdout.write(HELP);
    return;
  }
  if (!args.teacher || !args.out) fail('--teacher and --out are required (see --help)');
  const steps = int('steps', 1);
  if (steps === undefined) fail('--steps is required (see --help)');
  if (args.world !== undefined && !['tiny', 'small', 'large'].includes(args.world)) fail(`--world ${args.world}: expected tiny, small or large`);
  if (args.world !== undefined && args.data !== undefined) fail('give --world or --data, not both');
  const teacher = existsSync(args.teacher) ? resolve(args.teacher) : shippedModelDir(args.teacher) ?? resolve(args.teacher);
  if (!existsSync(join(teacher, 'config.json'))) fail(`--teacher ${args.teacher}: no config.json there; the teacher is a trained pre-training model folder or a shipped model (${listShippedModels().join(', ')})`);
  const studentSpec = args.student ?? 'tiny-student';
  const settings: Settings = {
    teacher,
    student: existsSync(studentSpec) ? resolve(studentSpec) : studentSpec,
    data: args.data === undefined ? undefined : resolve(args.data),
    world: (args.world ?? 'small') as Settings['world'],
    steps,
    vqaSteps: int('vqa-steps', 1) ?? steps,
    batchSize: int('batch-size', 1) ?? 32,
    lr: positive('lr'),
    warmupSteps: int('warmup-steps', 0),
    vqaLr: positive('vqa-lr'),
    vqaWarmupSteps: int('vqa-warmup-steps', 0),
    ...(args['vqa-kd'] && { vqaKd: true as const }),
    prompt: args.prompt,
    limit: int('limit', 1),
    evalImages: int('eval-images', 1),
  };
  const checkpointEvery = int('checkpoint-every', 1);
  const seeds = [...new Set(list(args.seeds, ['0', '1', '2']).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) fail(`--seeds: "${s}" is not an integer`);
    return n;
  }))];
  if (seeds.length === 0) fail('--seeds: no seed given');
  const recipes = list(args.recipes, ['dlip-default', 'no-kd']);
  const ablations = args.ablations === 'all' ? listRecipes().filter((r) => !recipes.includes(r)) : list(args.ablations, []).filter((r) => !recipes.includes(r));
  const kd = args.kd ?? 'dlip-default';
  const baseline = args.baseline ?? 'no-kd';
  for (const [flag, name] of [['--kd', kd], ['--baseline', baseline]] as const) {
    if (!recipes.includes(name)) fail(`${flag} ${name} is not in --recipes (${recipes.join(',')}): it must run on every seed`);
  }
  const tasks = list(args.tasks, [...EVIDENCE_TASKS]) as EvidenceTask[];
  const badTask = tasks.find((t) => !(EVIDENCE_TASKS as readonly string[]).includes(t));
  if (badTask) fail(`--tasks: unknown task "${badTask}"; choose from ${EVIDENCE_TASKS.join(', ')}`);
  // Errors name the recipe file and field before anything trains.
  const descriptions = Object.fromEntries([...recipes, ...ablations].map((r) => [r, loadRecipe(r).description]));
  const distils = Object.fromEntries([...recipes, ...ablations].map((r) => [r, loadRecipe(r).terms.length > 0]));
  const runName = (recipe: string) => basename(recipe).replace(/\.json$/, '');
  const names = [...recipes, ...ablations].map(runName);
  const clash = names.find((n, i) => names.indexOf(n) !== i);
  if (clash) fail(`two recipes would share the run folder "${clash}"; rename one of the recipe files`);

  await initBackend(args.backend);
  const out = resolve(args.out);
  const settingsFile = join(out, 'settings.json');
  if (existsSync(settingsFile)) {
    const saved = JSON.parse(readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
    for (const key of new Set([...Object.keys(saved), ...Object.keys(settings)])) {
      const [was, now] = [saved[key], (settings as unknown as Record<string, unknown>)[key]];
      if (JSON.stringify(was) !== JSON.stringify(now)) fail(`${settingsFile}: ${key} was ${JSON.stringify(was)}, now ${JSON.stringify(now)}; its runs were made with the saved value (pass it again, or use another --out)`);
    }
  } else if (!args['dry-run'] && !args['tables-only']) {
    await save(settingsFile, settings);
  }

  const dataset = openDataset(settings.data ?? (await builtinWorld(settings.world, 0)));
  const scored = tasks.filter((t) => t !== 'vqa') as Task[];
  const withVqa = tasks.includes('vqa');
  const testImages = Math.min(settings.limit ?? Infinity, dataset.captions('test').images.length);
  const testQuestions = withVqa ? Math.min(settings.limit ?? Infinity, dataset.vqa('test').length) : 0;
  if (withVqa) dataset.vqa('train'); // throws naming the manifest when the data has no VQA training split

  const common = { data: settings.data, world: settings.data ? undefined : settings.world, batchSize: settings.batchSize, evalImages: settings.evalImages, checkpointEvery };
  const stages: Stage[] = [];

  /** Scores `dir` as `architecture` on the test split and saves the score file. */
  const scoreStage = (label: string, kind: string, dir: () => string, architecture: Architecture, what: Task[], file: string): Stage => ({
    label,
    kind,
    work: what.reduce((n, t) => n + (t === 'vqa' ? testQuestions : testImages), 0),
    state: () => (existsSync(file) ? 'done' : 'to run'),
    run: async (hooks) => {
      const { model } = await loadModel(dir(), { architecture });
      let report: EvalReport;
      try {
        report = await evaluateLoaded(model, dir(), dataset, { split: 'test', tasks: what, limit: settings.limit, prompt: settings.prompt ?? '', onProgress: hooks.onScoreProgress });
      } finally {
        model.dispose();
      }
      const { caption, vqa } = report;
      const saved: ScoreFile = {
        model: dir(),
        split: 'test',
        scores: taskScores(report),
        report: {
          retrieval: report.retrieval,
          caption: caption && (({ results: _r, ...rest }) => rest)(caption),
          vqa: vqa && (({ results: _r, ...rest }) => rest)(vqa),
          seconds: report.seconds,
        },
      };
      await save(file, saved);
    },
  });

  const teacherDir = join(out, 'teacher');
  /**
   * The VQA model of a pre-training model, in <dir>/model: the same fine-tuning for every model, or with
   * `recipe` (--vqa-kd) distilled from the teacher's fine-tuned VQA model.
   */
  const vqaStage = (label: string, kind: string, from: () => string, dir: string, seed: number, recipe?: string): Stage => ({
    label,
    kind,
    work: settings.vqaSteps * settings.batchSize,
    state: () => (existsSync(join(dir, 'model', MANIFEST_FILE)) ? 'done' : hasCheckpoint(dir) ? 'resumes' : 'to run'),
    run: async (hooks) => {
      if (trainingFinished(dir, settings.vqaSteps)) {
        // Killed between the end of training and the export of model/: a finished run cannot be
        // resumed, so it runs again from the start.
        process.stderr.write(`${label}: ${dir} finished training but holds no exported model/; training it again\n`);
        await rm(dir, { recursive: true, force: true });
      }
      const schedule = { ...common, out: dir, steps: settings.vqaSteps, seed, lr: settings.vqaLr, warmupSteps: settings.vqaWarmupSteps, resume: hasCheckpoint(dir) };
      if (recipe) await distill({ ...schedule, task: 'vqa', teacher: join(teacherDir, 'vqa', 'model'), student: from(), recipe }, hooks);
      else await finetune({ ...schedule, task: 'vqa', model: from() }, hooks);
    },
  });

  if (scored.length) stages.push(scoreStage('score teacher', 'score-teacher', () => teacher, 'BlipForPreTraining', scored, join(teacherDir, 'score.json')));
  if (withVqa) {
    stages.push(vqaStage('finetune vqa teacher', 'finetune-teacher', () => teacher, join(teacherDir, 'vqa'), seeds[0]!));
    stages.push(scoreStage('score vqa teacher', 'score-vqa-teacher', () => join(teacherDir, 'vqa', 'model'), 'BlipForQuestionAnswering', ['vqa'], join(teacherDir, 'vqa-score.json')));
  }
  const runDir = (recipe: string, seed: number) => join(out, 'runs', runName(recipe), `seed-${seed}`);
  const runStages = (recipe: string, seed: number) => {
    const dir = runDir(recipe, seed);
    const distillDir = join(dir, 'distill');
    const tag = `${runName(recipe)} seed ${seed}`;
    stages.push({
      label: `distill ${tag}`,
      kind: distils[recipe] ? 'distill' : 'distill-no-kd',
      work: settings.steps * settings.batchSize,
      state: () => (trainingFinished(distillDir, settings.steps) ? 'done' : hasCheckpoint(distillDir) ? 'resumes' : 'to run'),
      run: async (hooks) => {
        await distill({
          ...common, teacher, student: settings.student, recipe, out: distillDir, steps: settings.steps, seed,
          lr: settings.lr, warmupSteps: settings.warmupSteps, prompt: settings.prompt, resume: hasCheckpoint(distillDir),
        }, hooks);
      },
    });
    const final = () => join(distillDir, FINAL_DIR);
    if (scored.length) stages.push(scoreStage(`score ${tag}`, 'score', final, 'BlipForPreTraining', scored, join(dir, 'score.json')));
    if (withVqa) {
      const vqaKd = settings.vqaKd && distils[recipe];
      stages.push(vqaStage(`${vqaKd ? 'distill' : 'finetune'} vqa ${tag}`, vqaKd ? 'distill-vqa' : 'finetune', final, join(dir, 'vqa'), seed, vqaKd ? recipe : undefined));
      stages.push(scoreStage(`score vqa ${tag}`, 'score-vqa', () => join(dir, 'vqa', 'model'), 'BlipForQuestionAnswering', ['vqa'], join(dir, 'vqa-score.json')));
    }
  };
  // The headline comparison first, seed by seed, so a partial bench already pairs KD with no KD.
  for (const seed of seeds) for (const recipe of recipes) runStages(recipe, seed);
  for (const recipe of ablations) runStages(recipe, seeds[0]!);

  const timingsFile = join(out, 'timings.json');
  const timings: Timings = existsSync(timingsFile) ? (JSON.parse(readFileSync(timingsFile, 'utf8')) as Timings) : {};
  const estimate = (s: Stage): number | undefined => {
    const t = timings[s.kind];
    return t && t.work > 0 ? (t.seconds / t.work) * s.work : undefined;
  };
  /** The time left after stage `index`, or which kinds of stage have no measured rate yet. */
  const remainingAfter = (index: number): string => {
    const left = stages.slice(index + 1).filter((s) => s.state() !== 'done');
    const unknown = [...new Set(left.filter((s) => estimate(s) === undefined).map((s) => s.kind))];
    const known = left.reduce((a, s) => a + (estimate(s) ?? 0), 0);
    if (!unknown.length) return duration(known);
    return `${known > 0 ? `${duration(known)} + ` : ''}stages not yet timed (${unknown.join(', ')}: the first of each kind sets its rate)`;
  };

  if (args['dry-run']) {
    process.stdout.write(`${stages.length} stages, in the order they run (backend ${activeBackend()}; estimates from ${timingsFile} when measured):\n`);
    stages.forEach((s, i) => {
      const e = estimate(s);
      process.stdout.write(`${String(i + 1).padStart(3)}. ${s.label.padEnd(44)} ${s.state().padEnd(8)} ${s.kind.padEnd(18)} ${e === undefined ? 'not yet measured' : `~${duration(e)}`}\n`);
    });
    process.stdout.write(`time left: ${remainingAfter(-1)}\n`);
    return;
  }

  if (!args['tables-only']) {
    for (const [i, stage] of stages.entries()) {
      const state = stage.state();
      const head = `[${i + 1}/${stages.length} ${stage.label}]`;
      if (state === 'done') {
        process.stderr.write(`${head} done, skipped\n`);
        continue;
      }
      process.stderr.write(`${head} ${state === 'resumes' ? 'resuming from its checkpoint' : 'starting'}; after it: ${remainingAfter(i)}\n`);
      const started = Date.now();
      let lastLine = 0;
      const line = (text: string, force = false) => {
        if (!force && Date.now() - lastLine < 20_000) return;
        lastLine = Date.now();
        process.stderr.write(`${head} ${text}\n`);
      };
      let firstStep: { step: number; time: number } | undefined;
      let scoreTask: { task: string; time: number } | undefined;
      await stage.run({
        onStep: (e) => {
          firstStep ??= { step: e.step, time: Date.now() };
          const rate = e.step > firstStep.step ? (Date.now() - firstStep.time) / 1000 / (e.step - firstStep.step) : undefined;
          const eta = rate === undefined ? '--' : duration(rate * (e.totalSteps - e.step));
          line(`step ${e.step}/${e.totalSteps}, loss ${e.loss.toFixed(4)}, ${e.imagesPerSecond.toFixed(1)} img/s, stage ETA ${eta}`, e.step === e.totalSteps);
        },
        onEval: (step, metrics) => line(`validation at step ${step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`, true),
        onWarning: (message) => line(`warning: ${message}`, true),
        onScoreProgress: (task, done, total) => {
          if (scoreTask?.task !== task) scoreTask = { task, time: Date.now() };
          const rate = done > 0 ? (Date.now() - scoreTask.time) / 1000 / done : undefined;
          line(`${task} ${done}/${total}, stage-part ETA ${rate === undefined ? '--' : duration(rate * (total - done))}`);
        },
      });
      const seconds = (Date.now() - started) / 1000;
      // Only stages run whole give a rate: a resumed one did part of its work before.
      if (state === 'to run') {
        const t = (timings[stage.kind] ??= { seconds: 0, work: 0 });
        t.seconds += seconds;
        t.work += stage.work;
        await save(timingsFile, timings);
      }
      process.stderr.write(`${head} finished in ${duration(seconds)}\n`);
    }
  }

  // Tables from whatever score files exist.
  const read = (file: string): TaskScores => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ScoreFile).scores : {});
  const teacherScores = { ...read(join(teacherDir, 'score.json')), ...read(join(teacherDir, 'vqa-score.json')) };
  const runs: RunScores[] = [];
  for (const recipe of [...recipes, ...ablations]) {
    for (const seed of recipes.includes(recipe) ? seeds : [seeds[0]!]) {
      const dir = runDir(recipe, seed);
      const scores = { ...read(join(dir, 'score.json')), ...read(join(dir, 'vqa-score.json')) };
      if (Object.keys(scores).length) runs.push({ recipe: runName(recipe), seed, scores });
    }
  }
  const teacherConfig = await readModelConfig(teacher);
  const studentConfig = resolveConfig(settings.student).config;
  const models: [string, Architecture][] = [
    ['retrieval', 'BlipForImageTextRetrieval'], ['caption', 'BlipForConditionalGeneration'], ['vqa', 'BlipForQuestionAnswering'], ['pre-training', 'BlipForPreTraining'],
  ];
  const cost: CostRow[] = models.map(([model, architecture]) => {
    const t = taskCost(teacherConfig, architecture);
    const s = taskCost(studentConfig, architecture);
    return { model, architecture, teacherParameters: t.parameters, studentParameters: s.parameters, teacherFlops: t.flops, studentFlops: s.flops };
  });
  const evidence = summarize({
    tasks, teacher: teacherScores, runs, kd: runName(kd), baseline: runName(baseline), recipes: recipes.map(runName), ablations: ablations.map(runName),
    ablationSeed: seeds[0]!, descriptions: Object.fromEntries(Object.entries(descriptions).map(([r, d]) => [runName(r), d])), cost,
  });
  const command = ['node dist/bench/distill-evidence.js', ...process.argv.slice(2).filter((a) => a !== '--tables-only').map((a) => (/^[\w./,=-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))].join(' ');
  const markdown = renderEvidence(evidence, runName(kd), runName(baseline), command, settings.vqaKd);
  await save(join(out, 'results.json'), { settings, seeds, backend: activeBackend(), evidence });
  await writeFileAtomic(join(out, 'results.md'), markdown);
  process.stdout.write(markdown);
  process.stderr.write(`tables written to ${join(out, 'results.md')} and ${join(out, 'results.json')}\n`);
}

try {
  await main();
} catch (err) {
  // Expected failures (a bad recipe, a missing folder) print one line; DLIP_DEBUG shows the stack, as dlip does.
  process.stderr.write(`distill-evidence: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.DLIP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
