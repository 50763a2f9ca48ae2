// An experiment run folder (`dlip demo`, `dlip ablate`): the stages that take one teacher and a grid
// of cells (recipe × student × seed) to scores, cost and latency, and the results.json they add up to.
//
// The teacher is a pre-training model. It is scored as it is on retrieval and captioning, and fine-tuned
// for VQA (pre-training trains no answer decoder). Each cell distils its student during pre-training
// with its recipe (stage distillation), is scored like the teacher, then distils its VQA model from the
// teacher's with the same recipe (task-adaptive distillation); the no-KD recipe makes both of those
// plain training of the same student on the same data for the same steps.
//
// Folder layout (every file written atomically; a rerun skips what exists and resumes trainings):
//   settings.json, timings.json          what every stage depends on; measured rates for the ETA
//   teacher/score.json                    teacher/vqa/ (fine-tuning run), teacher/vqa-score.json
//   cells/<recipe>/<student>/seed-<n>/    distill/ (run, final/), score.json, vqa/ (run, model/), vqa-score.json
//   latency.json                          median latency of each model config, alternating (remeasured when its settings change)
//   examples/                             the example images
//   results.json, results.csv, results.md
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { activeBackend, tf } from '../engine/backend.js';
import { openDataset } from '../data/manifest.js';
import type { Dataset } from '../data/manifest.js';
import { builtinWorld } from '../data/world/synth.js';
import { distill } from '../distill/distill.js';
import { loadRecipe } from '../distill/recipe.js';
import type { Recipe } from '../distill/recipe.js';
import { recipeForTask } from '../distill/tasks.js';
import { taskCost } from '../eval/cost.js';
import { measureLatency } from '../eval/latency.js';
import type { LatencyRow } from '../eval/latency.js';
import { evaluateLoaded } from '../eval/run.js';
import type { EvalReport, Task as EvalTask } from '../eval/run.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadModel, readModelConfig, sha256File, WEIGHTS_FILE, MANIFEST_FILE } from '../io/checkpoint.js';
import type { Architecture, BlipConfig } from '../models/config.js';
import { resolveConfig } from '../models/resolve.js';
import { listShippedModels, shippedModelDir } from '../models/shipped.js';
import { finetune } from '../train/finetune.js';
import { hasCheckpoint, trainingFinished } from '../train/run-state.js';
import { FINAL_DIR, METRICS_LOG } from '../train/trainer.js';
import { readPackageVersion } from '../version.js';
import { sharedSettings } from './grid.js';
import type { Grid } from './grid.js';
import { RESULTS_FILE, RESULTS_FORMAT } from './results.js';
import type { Example, ModelEntry, Results, Task, Workload } from './results.js';
import { StageRunner } from './stages.js';
import type { Priors, Stage, StageHooks, StageProgress } from './stages.js';

const TASK_MODEL: Record<Task, Architecture> = {
  retrieval: 'BlipForImageTextRetrieval',
  caption: 'BlipForConditionalGeneration',
  vqa: 'BlipForQuestionAnswering',
};

/** One cell of the grid. */
export interface Cell {
  recipe: string;
  student: string;
  seed: number;
  /** "dlip-default/tiny-student/seed 0": the model's name in results.json. */
  name: string;
  dir: string;
  /** Whether its recipe has KD terms (the stage kinds of distillation and plain training differ in rate). */
  kd: boolean;
  /** The recipe of its VQA distillation: its own, or the baseline when none of its KD terms reads a VQA model's parts. */
  vqaRecipe: string;
  vqaKd: boolean;
}

/** Images and questions each score stage evaluates. */
interface TestCounts {
  images: number;
  questions: number;
}

/** Whether any KD term of the recipe reads a part that a VQA model has. */
function appliesToVqa(recipe: Recipe): boolean {
  try {
    recipeForTask(recipe, 'vqa', () => {});
    return true;
  } catch {
    return false;
  }
}

/** The file name a recipe or student spec stands for: a shipped name as it is, a file or folder by its base name. */
const specName = (spec: string) => basename(spec).replace(/\.json$/, '');

/** What a score stage keeps: the whole evaluation report, per-example results included (for the examples). */
interface ScoreFile {
  model: string;
  report: EvalReport;
}

export interface ExperimentOptions {
  kind: Results['kind'];
  grid: Grid;
  out: string;
  /** The command line as typed, for the report. */
  command: string[];
  /** Stage rates measured elsewhere, for estimates before this machine has timed a stage. */
  priors?: Priors;
  /** Told before the built-in world is generated (the first run only). */
  onDataBuild?(what: string): void;
}

export class Experiment {
  private constructor(
    readonly options: ExperimentOptions,
    readonly out: string,
    readonly teacher: string,
    readonly dataset: Dataset,
    readonly cells: Cell[],
    private readonly testCounts: TestCounts,
  ) {
    this.runner = new StageRunner(this.stages(), join(out, 'timings.json'), options.priors);
  }

  readonly runner: StageRunner;

  get grid(): Grid {
    return this.options.grid;
  }

  /**
   * Checks the grid against what exists (recipes, teacher, the run folder's saved settings) before
   * anything trains, and lays out the stages.
   */
  static async plan(options: ExperimentOptions): Promise<Experiment> {
    const { grid } = options;
    const out = resolve(options.out);
    const loaded = new Map(grid.recipes.map((r) => [r, loadRecipe(r)]));
    const hasKd = (r: string) => loaded.get(r)!.terms.length > 0;
    const recipes = new Map(grid.recipes.map((r) => {
      const vqaRecipe = grid.vqaKd !== false && appliesToVqa(loaded.get(r)!) ? r : grid.baseline;
      return [r, { kd: hasKd(r), vqaRecipe, vqaKd: hasKd(vqaRecipe) }];
    }));
    const names = grid.recipes.map(specName);
    const clash = names.find((n, i) => names.indexOf(n) !== i);
    if (clash) throw new Error(`two recipes would share the cell folder "${clash}"; rename one of the recipe files`);
    const studentNames = grid.students.map(specName);
    const studentClash = studentNames.find((n, i) => studentNames.indexOf(n) !== i);
    if (studentClash) throw new Error(`two students would share the cell folder "${studentClash}"; rename one`);
    for (const s of grid.students) resolveConfig(existsSync(s) ? resolve(s) : s); // names a bad student before training
    const teacher = existsSync(grid.teacher) ? resolve(grid.teacher) : shippedModelDir(grid.teacher);
    if (!teacher || !existsSync(join(teacher, 'config.json'))) {
      throw new Error(`teacher ${grid.teacher}: no model folder there (config.json); give a pre-training model folder or a shipped model (${listShippedModels().join(', ')})`);
    }
    checkSettings(join(out, 'settings.json'), sharedSettings(grid));

    let manifest = grid.data && resolve(grid.data);
    if (!manifest) {
      options.onDataBuild?.(`the built-in ${grid.world} world`);
      manifest = await builtinWorld(grid.world, 0);
    }
    const dataset = openDataset(manifest);
    if (grid.tasks.includes('vqa')) dataset.vqa('train'); // names the manifest when it has no VQA split

    const cells: Cell[] = [];
    for (const seed of grid.seeds) {
      for (const student of grid.students) {
        for (const recipe of grid.recipes) {
          cells.push({
            ...recipes.get(recipe)!,
            recipe,
            student: existsSync(student) ? resolve(student) : student,
            seed,
            name: `${specName(recipe)}/${specName(student)}/seed ${seed}`,
            dir: join(out, 'cells', specName(recipe), specName(student), `seed-${seed}`),
          });
        }
      }
    }
    const limit = grid.limit ?? Infinity;
    const testCounts = {
      images: Math.min(limit, dataset.captions('test').images.length),
      questions: grid.tasks.includes('vqa') ? Math.min(limit, dataset.vqa('test').length) : 0,
    };
    return new Experiment(options, out, teacher, dataset, cells, testCounts);
  }

  /** Saves the shared settings (a later run with other values is refused) and runs the stages not done. */
  async run(progress: StageProgress): Promise<void> {
    const file = join(this.out, 'settings.json');
    if (!existsSync(file)) {
      await mkdir(this.out, { recursive: true });
      await writeJsonAtomic(file, sharedSettings(this.grid));
    }
    await this.runner.run(progress);
  }

  private get common() {
    const g = this.grid;
    return { data: this.dataset.file, batchSize: g.batchSize, evalImages: g.evalImages, checkpointEvery: g.checkpointEvery };
  }

  private stages(): Stage[] {
    const g = this.grid;
    const scored = g.tasks.filter((t) => t !== 'vqa') as EvalTask[];
    const withVqa = g.tasks.includes('vqa');
    const stages: Stage[] = [];
    const teacherDir = join(this.out, 'teacher');
    if (scored.length) stages.push(this.scoreStage('score teacher', 'score-teacher', () => this.teacher, 'BlipForPreTraining', scored, join(teacherDir, 'score.json')));
    if (withVqa) {
      const dir = join(teacherDir, 'vqa');
      const steps = g.teacherVqaSteps ?? g.vqaSteps;
      stages.push(this.trainStage('fine-tune teacher for VQA', 'finetune-vqa-teacher', dir, steps, true, (hooks) =>
        finetune({ ...this.common, task: 'vqa', model: this.teacher, out: dir, steps, seed: g.seeds[0]!, lr: g.vqaLr, warmupSteps: g.vqaWarmupSteps, resume: hasCheckpoint(dir) }, hooks)));
      stages.push(this.scoreStage('score teacher VQA', 'score-vqa', () => join(dir, 'model'), 'BlipForQuestionAnswering', ['vqa'], join(teacherDir, 'vqa-score.json')));
    }
    for (const cell of this.cells) {
      const distillDir = join(cell.dir, 'distill');
      stages.push(this.trainStage(`distill ${cell.name}`, cell.kd ? 'distill' : 'train-no-kd', distillDir, g.steps, false, (hooks) =>
        distill({
          ...this.common, teacher: this.teacher, student: cell.student, recipe: cell.recipe, out: distillDir, steps: g.steps, seed: cell.seed,
          lr: g.lr, warmupSteps: g.warmupSteps, resume: hasCheckpoint(distillDir),
        }, hooks)));
      const final = () => join(distillDir, FINAL_DIR);
      if (scored.length) stages.push(this.scoreStage(`score ${cell.name}`, 'score', final, 'BlipForPreTraining', scored, join(cell.dir, 'score.json')));
      if (withVqa) {
        const vqaDir = join(cell.dir, 'vqa');
        const why = g.vqaKd === false ? 'vqaKd is false' : `no ${specName(cell.recipe)} term reads VQA`;
        stages.push(this.trainStage(`VQA ${cell.name}${cell.vqaRecipe === cell.recipe ? '' : ` (${specName(cell.vqaRecipe)}: ${why})`}`, cell.vqaKd ? 'distill-vqa' : 'train-vqa-no-kd', vqaDir, g.vqaSteps, true, (hooks) =>
          distill({
            ...this.common, task: 'vqa', teacher: join(teacherDir, 'vqa', 'model'), student: final(), recipe: cell.vqaRecipe, out: vqaDir, steps: g.vqaSteps,
            seed: cell.seed, lr: g.vqaLr, warmupSteps: g.vqaWarmupSteps, resume: hasCheckpoint(vqaDir),
          }, hooks)));
        stages.push(this.scoreStage(`score VQA ${cell.name}`, 'score-vqa', () => join(vqaDir, 'model'), 'BlipForQuestionAnswering', ['vqa'], join(cell.dir, 'vqa-score.json')));
      }
    }
    stages.push(this.latencyStage());
    return stages;
  }

  /** A training run in `dir`; a task run is finished once its exported model/ exists. */
  private trainStage(label: string, kind: string, dir: string, steps: number, exportsModel: boolean, train: (hooks: StageHooks) => Promise<unknown>): Stage {
    const done = () => (exportsModel ? existsSync(join(dir, 'model', MANIFEST_FILE)) : trainingFinished(dir, steps));
    return {
      label,
      kind,
      work: steps * this.grid.batchSize,
      state: () => (done() ? 'done' : hasCheckpoint(dir) ? 'resumes' : 'to run'),
      run: async (hooks) => {
        if (exportsModel && trainingFinished(dir, steps)) {
          // Killed between the end of training and the export of model/: a finished run cannot be
          // resumed, so it trains again from the start.
          hooks.onWarning?.(`${dir} finished training but holds no exported model/; training it again`);
          await rm(dir, { recursive: true, force: true });
        }
        await train(hooks);
      },
    };
  }

  private scoreStage(label: string, kind: string, dir: () => string, architecture: Architecture, tasks: EvalTask[], file: string): Stage {
    const { images, questions } = this.testCounts;
    return {
      label,
      kind,
      work: tasks.reduce((n, t) => n + (t === 'vqa' ? questions : images), 0),
      state: () => (existsSync(file) ? 'done' : 'to run'),
      run: async (hooks) => {
        const { model } = await loadModel(dir(), { architecture });
        let report: EvalReport;
        try {
          report = await evaluateLoaded(model, dir(), this.dataset, {
            split: 'test', tasks, limit: this.grid.limit, prompt: '', rankings: this.grid.examples,
            onProgress: (task, done, total) => hooks.onScoreProgress?.(task, done, total),
          });
        } finally {
          model.dispose();
        }
        await mkdir(join(file, '..'), { recursive: true });
        await writeJsonAtomic(file, { model: dir(), report } satisfies ScoreFile);
      },
    };
  }

  /** Latency of the teacher's config and each student's, alternating, from random weights (weights do not change cost). */
  private latencyStage(): Stage {
    const file = join(this.out, 'latency.json');
    const l = this.grid.latency;
    const names = ['teacher', ...this.grid.students.map(specName)];
    const measured = () => {
      if (!existsSync(file)) return false;
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { settings: unknown; rows: LatencyRow[] };
      const same = JSON.stringify(saved.settings) === JSON.stringify(l);
      return same && saved.rows.length > 0 && names.every((n) => saved.rows.every((r) => r.ms[n] !== undefined));
    };
    return {
      label: 'measure latency (batch 1 and 32)',
      kind: 'latency',
      work: names.length,
      state: () => (measured() ? 'done' : 'to run'),
      run: async (hooks) => {
        const configs: Record<string, BlipConfig> = { teacher: await readModelConfig(this.teacher) };
        for (const s of this.cells) configs[specName(s.student)] ??= resolveConfig(s.student).config;
        const rows = measureLatency(configs, this.dataset, {
          ...l,
          onMeasured: (row) => hooks.onScoreProgress?.(`latency ${row.workload} batch ${row.batch}`, 1, 1),
        });
        await writeJsonAtomic(file, { backend: activeBackend(), settings: l, rows });
      },
    };
  }

  /** Adds up what the stages left into results.json (whatever is done so far) and returns it. */
  async writeResults(): Promise<Results> {
    const g = this.grid;
    const teacherDir = join(this.out, 'teacher');
    const latency = existsSync(join(this.out, 'latency.json'))
      ? (JSON.parse(readFileSync(join(this.out, 'latency.json'), 'utf8')) as { rows: LatencyRow[] }).rows
      : [];
    const reports = new Map<string, EvalReport[]>();

    const entry = async (base: Omit<ModelEntry, 'models' | 'sha256' | 'cost' | 'scores' | 'latency' | 'metrics'>, latencyName: string, folders: Partial<Record<Task, string>>, scoreFiles: string[], runs: { label: string; dir: string }[]): Promise<ModelEntry> => {
      const models: Partial<Record<Task, string>> = {};
      const sha256: Record<string, string> = {};
      const cost: ModelEntry['cost'] = {};
      for (const [task, dir] of Object.entries(folders) as [Task, string][]) {
        if (!existsSync(join(dir, 'config.json'))) continue;
        const rel = this.relative(dir);
        models[task] = rel;
        if (existsSync(join(dir, WEIGHTS_FILE))) sha256[rel] ??= await sha256File(join(dir, WEIGHTS_FILE));
        const { parameters, flops } = taskCost(await readModelConfig(dir), TASK_MODEL[task]);
        cost[task] = { parameters, flops };
      }
      const scores: ModelEntry['scores'] = {};
      const kept: EvalReport[] = [];
      for (const file of scoreFiles.filter((f) => existsSync(f))) {
        const { report } = JSON.parse(readFileSync(file, 'utf8')) as ScoreFile;
        kept.push(report);
        Object.assign(scores, scoresOf(report));
      }
      reports.set(base.name, kept);
      return {
        ...base,
        models,
        sha256,
        cost,
        scores,
        latency: latencyOf(latency, latencyName),
        metrics: runs.filter((r) => existsSync(join(r.dir, METRICS_LOG))).map((r) => ({ label: r.label, file: this.relative(join(r.dir, METRICS_LOG)) })),
      };
    };

    const teacher = await entry(
      { name: 'teacher', role: 'teacher' },
      'teacher',
      { retrieval: this.teacher, caption: this.teacher, vqa: join(teacherDir, 'vqa', 'model') },
      [join(teacherDir, 'score.json'), join(teacherDir, 'vqa-score.json')],
      [{ label: 'VQA fine-tuning', dir: join(teacherDir, 'vqa') }],
    );
    const students: ModelEntry[] = [];
    for (const cell of this.cells) {
      const final = join(cell.dir, 'distill', FINAL_DIR);
      students.push(await entry(
        { name: cell.name, role: 'student', recipe: specName(cell.recipe), student: specName(cell.student), seed: cell.seed },
        specName(cell.student),
        { retrieval: final, caption: final, vqa: join(cell.dir, 'vqa', 'model') },
        [join(cell.dir, 'score.json'), join(cell.dir, 'vqa-score.json')],
        [{ label: 'distillation', dir: join(cell.dir, 'distill') }, { label: `VQA (${specName(cell.vqaRecipe)})`, dir: join(cell.dir, 'vqa') }],
      ));
    }

    const { examples, exampleImages } = await this.examples(reports);
    const results: Results = {
      format: RESULTS_FORMAT,
      version: 1,
      kind: this.options.kind,
      command: this.options.command,
      created: new Date().toISOString(),
      versions: { dlip: readPackageVersion(), node: process.version, tfjs: tf.version.tfjs, backend: activeBackend() },
      backend: activeBackend(),
      data: { name: g.data ? specName(g.data) : `built-in ${g.world} world`, file: this.dataset.file, split: 'test', ...(g.limit && { limit: g.limit }) },
      recipes: Object.fromEntries(g.recipes.map((r) => [specName(r), JSON.parse(readFileSync(loadRecipe(r).source, 'utf8')) as unknown])),
      baseline: specName(g.baseline),
      teacher,
      students,
      examples,
      exampleImages,
    };
    await writeJsonAtomic(join(this.out, RESULTS_FILE), results);
    return results;
  }

  /** The first test images with every model's caption, answers and text→image top-5; the images they name are copied into examples/. */
  private async examples(reports: Map<string, EvalReport[]>): Promise<{ examples: Example[]; exampleImages: Record<string, string> }> {
    const count = this.grid.examples;
    if (count === 0) return { examples: [], exampleImages: {} };
    const test = this.dataset.captions('test').images;
    const images = test.slice(0, Math.min(count, this.grid.limit ?? Infinity));
    const byId = new Map(test.map((i) => [i.imageId, i.image]));
    const questions = this.grid.tasks.includes('vqa') ? this.dataset.vqa('test').slice(0, this.grid.limit) : [];
    const examples: Example[] = images.map((img) => {
      const asked = questions.filter((q) => byId.get(img.imageId) === q.image);
      const outputs: Example['outputs'] = {};
      for (const [name, list] of reports) {
        const caption = list.find((r) => r.caption)?.caption?.results.find((c) => c.image_id === img.imageId)?.caption;
        const vqa = list.find((r) => r.vqa)?.vqa?.results;
        const answers = vqa && asked.map((q) => vqa.find((a) => a.question_id === q.questionId)?.answer ?? '');
        const top5 = list.find((r) => r.retrieval)?.retrieval?.rankings?.find((x) => x.imageId === img.imageId)?.top;
        outputs[name] = { ...(caption !== undefined && { caption }), ...(answers && { answers }), ...(top5 && { top5 }) };
      }
      return { imageId: img.imageId, image: '', references: img.captions, questions: asked.map((q) => ({ question: q.question, answers: q.answers })), outputs };
    });
    const named = new Set(examples.flatMap((e) => [e.imageId, ...Object.values(e.outputs).flatMap((o) => o.top5 ?? [])]));
    const exampleImages: Record<string, string> = {};
    await mkdir(join(this.out, 'examples'), { recursive: true });
    for (const id of named) {
      const source = byId.get(id);
      if (!source) continue;
      const file = join('examples', `${id.replace(/[^\w.-]/g, '_')}${extname(source)}`);
      await copyFile(source, join(this.out, file));
      exampleImages[id] = file;
    }
    for (const e of examples) e.image = exampleImages[e.imageId] ?? '';
    return { examples, exampleImages };
  }

  private relative(path: string): string {
    const rel = relative(this.out, path);
    return rel.startsWith('..') ? path : rel;
  }
}

/** Refuses a run folder made with other shared settings, naming the first field that differs. */
function checkSettings(file: string, settings: Record<string, unknown>): void {
  if (!existsSync(file)) return;
  const now = JSON.parse(JSON.stringify(settings)) as Record<string, unknown>;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const key of new Set([...Object.keys(saved), ...Object.keys(now)])) {
    const [was, is] = [JSON.stringify(saved[key]), JSON.stringify(now[key])];
    if (was !== is) throw new Error(`${file}: ${key} was ${was ?? 'unset'}, now ${is ?? 'unset'}; the finished stages used the saved value (pass it again, or use another output folder)`);
  }
}

/** Every metric of a report on the 0–100 scale, with each task's headline key (results.ts HEADLINE). */
function scoresOf(report: EvalReport): Results['teacher']['scores'] {
  const scores: Results['teacher']['scores'] = {};
  const r = report.retrieval;
  if (r) {
    const recall: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.recall)) recall[`tr${k}`] = v as number;
    for (const [k, v] of Object.entries(r.imageRecall ?? {})) recall[`ir${k}`] = v as number;
    // The first stage alone beside the reranked headline: what the student's ITM head adds or costs.
    const itc = r.itc && { itc_tr1: r.itc.recall[1]!, itc_ir1: r.itc.imageRecall[1]!, itc_r1: (r.itc.recall[1]! + r.itc.imageRecall[1]!) / 2 };
    scores.retrieval = { ...recall, r1: ((recall.tr1 ?? 0) + (recall.ir1 ?? 0)) / 2, mean: r.mean, ...itc };
  }
  if (report.caption) scores.caption = { cider: report.caption.cider, ...Object.fromEntries(report.caption.bleu.map((b, i) => [`bleu${i + 1}`, b])) };
  if (report.vqa) {
    scores.vqa = { accuracy: report.vqa.accuracy, ...Object.fromEntries(Object.entries(report.vqa.perAnswerType).map(([k, v]) => [`accuracy_${k.replace(/\W+/g, '_')}`, v as number])) };
  }
  return scores;
}

function latencyOf(rows: LatencyRow[], name: string): ModelEntry['latency'] {
  const out: NonNullable<ModelEntry['latency']> = {};
  for (const w of new Set(rows.map((r) => r.workload))) {
    const at = (batch: number) => rows.find((r) => r.workload === w && r.batch === batch)?.ms[name];
    const [b1, b32] = [at(1), at(32)];
    if (b1 !== undefined && b32 !== undefined) out[w as Workload] = { batch1Ms: b1, batch32Ms: b32 };
  }
  return Object.keys(out).length ? out : undefined;
}

