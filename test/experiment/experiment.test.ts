// An experiment run folder end to end on tiny models and the tiny world: a grid of two recipes runs
// every stage to a results.json that parses, with scores, cost, latency and examples; a rerun skips
// every stage; a changed shared setting is refused by name; the CSV and Markdown agree with it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { initBackend } from '../../src/engine/backend.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { demoGrid } from '../../src/experiment/demo.js';
import { parseGrid, readGrid } from '../../src/experiment/grid.js';
import { loadRecipe } from '../../src/distill/recipe.js';
import { resolveConfig } from '../../src/models/resolve.js';
import { shippedModelDir } from '../../src/models/shipped.js';
import { packageRoot } from '../../src/paths.js';
import type { GridInput } from '../../src/experiment/grid.js';
import { decisions, parseResults } from '../../src/experiment/results.js';
import type { Results } from '../../src/experiment/results.js';
import type { StageProgress } from '../../src/experiment/stages.js';
import { resultsCsv, resultsMarkdown } from '../../src/experiment/tables.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { readMetricsLog } from '../../src/report/metrics-log.js';
import { writeReport } from '../../src/report/report.js';
import { METRICS_LOG } from '../../src/train/trainer.js';
import { createModel } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-experiment-'));

function config(width: number, layers: number) {
  return {
    image_text_hidden_size: 8,
    vision_config: { hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, image_size: 32, patch_size: 8 },
    text_config: { vocab_size: 30524, hidden_size: width, encoder_hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, max_position_embeddings: 40 },
  };
}

const teacherDir = join(work, 'teacher');
const studentFile = join(work, 'mini-student.json');

const grid = (overrides: Partial<GridInput> = {}) =>
  parseGrid(
    {
      teacher: teacherDir, students: [studentFile], recipes: ['dlip-default', 'no-kd'], world: 'tiny', steps: 2, vqaSteps: 1, teacherVqaSteps: 2,
      batchSize: 4, warmupSteps: 0, vqaWarmupSteps: 0, evalImages: 2, limit: 3, checkpointEvery: 1,
      latency: { repeats: 1, warmup: 0, warmupMs: 0, gallery: 4, k: 2, captionLength: 6 }, examples: 2, ...overrides,
    },
    'test grid',
  );

/** Records what the runner reported. */
function recorder() {
  const events = { skipped: [] as string[], started: [] as string[], finished: [] as string[] };
  const progress: StageProgress = {
    skip: (_i, _n, s) => void events.skipped.push(s.label),
    start: (_i, _n, s) => {
      events.started.push(s.label);
      return {};
    },
    finish: (_i, _n, s) => void events.finished.push(s.label),
  };
  return { events, progress };
}

before(async () => {
  await initBackend();
  process.env.DLIP_CACHE = join(work, 'cache');
  const teacher = createModel(parseBlipConfig(config(16, 2), 'teacher'), 'BlipForPreTraining');
  initParameters(teacher, 1);
  await saveModel(teacher, teacherDir);
  teacher.dispose();
  writeFileSync(studentFile, JSON.stringify(config(8, 1)));
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('experiment run folder', () => {
  const out = join(work, 'run');
  let results: Results;

  it('runs every stage and writes a results.json that parses, with scores, cost, latency and examples', async () => {
    const experiment = await Experiment.plan({ kind: 'ablate', grid: grid(), out, command: ['dlip', 'ablate'] });
    const { events, progress } = recorder();
    await experiment.run(progress);
    assert.equal(events.started.length, experiment.runner.stages.length);
    assert.deepEqual(events.skipped, []);
    await experiment.writeResults();
    results = parseResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')), 'results.json');

    assert.deepEqual(results.students.map((s) => s.name), ['dlip-default/mini-student/seed 0', 'no-kd/mini-student/seed 0']);
    for (const m of [results.teacher, ...results.students]) {
      assert.deepEqual(Object.keys(m.scores).sort(), ['caption', 'retrieval', 'vqa'], m.name);
      assert.ok(m.scores.retrieval!.r1! >= 0 && m.scores.retrieval!.r1! <= 100, m.name);
      for (const task of ['retrieval', 'caption', 'vqa'] as const) assert.ok(m.cost[task]!.parameters > 0, `${m.name} ${task}`);
      for (const w of ['image', 'retrieval', 'caption', 'vqa'] as const) assert.ok(m.latency![w]!.batch1Ms > 0 && m.latency![w]!.batch32Ms > 0, `${m.name} ${w}`);
      for (const [folder, sha] of Object.entries(m.sha256)) assert.match(sha, /^[0-9a-f]{64}$/, folder);
      for (const { file } of m.metrics) assert.ok(existsSync(join(out, file)), file);
    }
    // The students are smaller than the teacher, and the KD student's gain is measured against no-kd.
    const [kd, baseline] = results.students;
    assert.ok(results.teacher.cost.retrieval!.parameters > kd!.cost.retrieval!.parameters);
    const gain = decisions(results, kd!).find((d) => d.task === 'caption')!;
    assert.equal(gain.kdGain, kd!.scores.caption!.cider! - baseline!.scores.caption!.cider!);

    // The report reads the folder as written (every image, metrics file and top-5 id must resolve).
    const html = readFileSync(await writeReport(out), 'utf8');
    assert.ok(html.includes(kd!.name) && html.includes('data:image/'));

    // The teacher's VQA fine-tune runs its own steps; every student's VQA stage runs vqaSteps.
    const lastStep = async (dir: string) => Math.max(...(await readMetricsLog(join(dir, METRICS_LOG))).steps.map((s) => s.step));
    assert.equal(await lastStep(join(out, 'teacher', 'vqa')), 2);
    for (const recipe of ['dlip-default', 'no-kd']) assert.equal(await lastStep(join(out, 'cells', recipe, 'mini-student', 'seed-0', 'vqa')), 1, recipe);

    assert.equal(results.examples.length, 2);
    for (const e of results.examples) {
      assert.ok(existsSync(join(out, e.image)), e.image);
      assert.ok(e.references.length > 0);
      for (const name of [results.teacher.name, kd!.name]) {
        const o = e.outputs[name]!;
        assert.equal(typeof o.caption, 'string', name);
        assert.equal(o.top5!.length, Math.min(5, 3), name); // 3 test images (limit)
        for (const id of o.top5!) assert.ok(results.exampleImages[id], `top-5 image ${id} copied`);
        assert.equal(o.answers!.length, e.questions.length, name);
      }
    }
  });

  it('skips every finished stage on a rerun', async () => {
    const experiment = await Experiment.plan({ kind: 'ablate', grid: grid(), out, command: ['dlip', 'ablate'] });
    assert.ok(experiment.runner.stages.every((s) => s.state() === 'done'));
    const { events, progress } = recorder();
    await experiment.run(progress);
    assert.deepEqual(events.started, []);
    assert.equal(events.skipped.length, experiment.runner.stages.length);
  });

  it('adds a seed as new cells without redoing the old ones', async () => {
    const experiment = await Experiment.plan({ kind: 'ablate', grid: grid({ seeds: [0, 1] }), out, command: ['dlip', 'ablate'] });
    const todo = experiment.runner.stages.filter((s) => s.state() !== 'done').map((s) => s.label);
    assert.ok(todo.length > 0 && todo.every((l) => l.includes('seed 1')), todo.join('; '));
    // A new student spec (not a new seed) would need its latency measured too.
    const more = await Experiment.plan({ kind: 'ablate', grid: grid({ students: [studentFile, 'tiny-student'] }), out, command: [] });
    assert.equal(more.runner.stages.find((s) => s.kind === 'latency')!.state(), 'to run');
    // Other latency settings redo only the latency stage.
    const timed = await Experiment.plan({ kind: 'ablate', grid: grid({ latency: { repeats: 2, warmup: 0, warmupMs: 0, gallery: 4, k: 2, captionLength: 6 } }), out, command: [] });
    assert.deepEqual(timed.runner.stages.filter((s) => s.state() !== 'done').map((s) => s.kind), ['latency']);
  });

  it('distils a KD cell\'s VQA model from the teacher\'s, or with vqaKd false fine-tunes it as the baseline does', async () => {
    const vqaStages = async (overrides: Partial<GridInput>, folder: string) =>
      (await Experiment.plan({ kind: 'ablate', grid: grid(overrides), out: join(work, folder), command: [] })).runner.stages.filter((s) => s.label.startsWith('VQA '));
    assert.deepEqual((await vqaStages({}, 'plan-vqa-kd')).map((s) => s.kind), ['distill-vqa', 'train-vqa-no-kd']);
    const alone = await vqaStages({ vqaKd: false }, 'plan-no-vqa-kd');
    assert.deepEqual(alone.map((s) => s.kind), ['train-vqa-no-kd', 'train-vqa-no-kd']);
    assert.match(alone[0]!.label, /^VQA dlip-default\/mini-student\/seed 0 \(no-kd: vqaKd is false\)$/);
  });

  it('refuses a changed shared setting, naming it', async () => {
    await assert.rejects(
      Experiment.plan({ kind: 'ablate', grid: grid({ steps: 3 }), out, command: [] }),
      (err: Error) => err.message.includes('settings.json: steps was 2, now 3'),
    );
  });

  it('writes a CSV with one row per model and task, and Markdown with the decision figures', () => {
    const rows = parse(resultsCsv(results), { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 3 * 3);
    const row = rows.find((r) => r.model === 'dlip-default/mini-student/seed 0' && r.task === 'caption')!;
    const entry = results.students[0]!;
    assert.equal(Number(row.cider), entry.scores.caption!.cider);
    assert.equal(Number(row.parameters), entry.cost.caption!.parameters);
    assert.equal(Number(row.latency_batch1_ms), entry.latency!.caption!.batch1Ms);
    assert.equal(row.kd_gain, String(decisions(results, entry).find((d) => d.task === 'caption')!.kdGain));
    assert.equal(rows.find((r) => r.role === 'teacher')!.retained, '');

    const md = resultsMarkdown(results);
    assert.match(md, /\| teacher \|/);
    assert.match(md, /## Decision figures/);
    assert.match(md, /\*\*dlip-default\/mini-student\/seed 0\*\*: [\d.]+x fewer parameters/);
  });
});

describe('grid validation', () => {
  const valid = { teacher: 'tiny-teacher', steps: 10, vqaSteps: 5 };
  const fails = (input: object, field: string) =>
    assert.throws(() => parseGrid(input, 'grid.json'), (err: Error) => err.message.startsWith(`grid.json: ${field}:`), field);

  it('fills the defaults of a minimal grid', () => {
    const g = parseGrid(valid, 'grid.json');
    assert.deepEqual(g.recipes, ['dlip-default', 'no-kd']);
    assert.equal(g.baseline, 'no-kd');
    assert.deepEqual(g.tasks, ['retrieval', 'caption', 'vqa']);
  });

  it('names the bad field', () => {
    fails({ ...valid, steps: 0 }, 'steps');
    fails({ teacher: 'x', steps: 1 }, 'vqaSteps');
    fails({ ...valid, baseline: 'logits-only' }, 'baseline');
    fails({ ...valid, seeds: [0, 0] }, 'seeds');
    fails({ ...valid, tasks: ['vqa', 'ocr'] }, 'tasks.1');
    fails({ ...valid, latency: { repeats: 0 } }, 'latency.repeats');
    fails({ ...valid, latency: { captionLength: 4 } }, 'latency.captionLength');
    fails({ ...valid, stpes: 3 }, '(root)');
  });

  it('parses every grid of docs/evidence, whose recipes and students exist', () => {
    const dir = join(packageRoot, 'docs', 'evidence');
    const files = readdirSync(dir).filter((f) => f.endsWith('.grid.json'));
    assert.ok(files.length >= 6, files.join(', '));
    for (const file of files) {
      const g = readGrid(join(dir, file));
      for (const r of g.recipes) assert.doesNotThrow(() => loadRecipe(r), file);
      for (const s of g.students) assert.doesNotThrow(() => resolveConfig(s), file);
      assert.ok(shippedModelDir(g.teacher), `${file}: teacher ${g.teacher}`);
    }
  });

  it('names a recipe or teacher that does not exist before anything trains', async () => {
    await assert.rejects(Experiment.plan({ kind: 'ablate', grid: grid({ recipes: ['no-such-recipe', 'no-kd'] }), out: join(work, 'bad'), command: [] }), /recipe "no-such-recipe"/);
    await assert.rejects(Experiment.plan({ kind: 'ablate', grid: grid({ teacher: join(work, 'nowhere') }), out: join(work, 'bad'), command: [] }), /teacher .*nowhere: no model folder/);
    assert.equal(existsSync(join(work, 'bad')), false);
  });
});

describe('demo grid', () => {
  it('scales the training steps with the budget and keeps everything else', () => {
    const [one, two] = [demoGrid(), demoGrid({ budget: 2 })];
    assert.equal(two.steps, 2 * one.steps);
    assert.equal(two.vqaSteps, 2 * one.vqaSteps);
    assert.deepEqual({ ...two, steps: 0, vqaSteps: 0 }, { ...one, steps: 0, vqaSteps: 0 });
    assert.throws(() => demoGrid({ budget: 0 }), /--budget/);
  });

  it('runs the same stages small with --quick', () => {
    const quick = demoGrid({ quick: true });
    assert.equal(quick.world, 'tiny');
    assert.deepEqual([quick.teacher, quick.recipes, quick.students, quick.tasks], [demoGrid().teacher, demoGrid().recipes, demoGrid().students, demoGrid().tasks]);
    assert.ok(quick.steps < demoGrid().steps);
  });
});
