// A made-up demo run folder for the report tests: results.json with a teacher and two students (KD and
// its no-KD baseline), metrics.jsonl files, tiny PNGs and examples with known mistakes; the values are
// renderer input only, chosen so that every derived figure is easy to check by hand.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ModelEntry, Results } from '../../src/experiment/results.js';

export const SHA = { teacher: 'a'.repeat(64), kd: 'b'.repeat(64), nokd: 'c'.repeat(64) };
export const EVIL = '<img src=x onerror="alert(1)">';

async function png(file: string, r: number, g: number, b: number): Promise<void> {
  await sharp({ create: { width: 16, height: 16, channels: 3, background: { r, g, b } } }).png().toFile(file);
}

function metricsLog(file: string, terms: string[]): void {
  const lines: string[] = [];
  for (let step = 10; step <= 40; step += 10) {
    lines.push(JSON.stringify({ step, epoch: 0, lr: 1e-4, loss: 10 - step / 10, terms: Object.fromEntries(terms.map((t, i) => [t, (i + 1) * (5 - step / 10)])), images_per_s: 4 }));
    if (step % 20 === 0) lines.push(JSON.stringify({ step, eval: { tr1: step, ir1: step / 2, r_mean: step * 0.75 } }));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

function entry(name: string, role: 'teacher' | 'student', scale: number, extra: Partial<ModelEntry>): ModelEntry {
  const params = role === 'teacher' ? 24_000_000 : 6_000_000;
  const flops = role === 'teacher' ? 8e9 : 1e9;
  const latency = role === 'teacher' ? 40 : 10;
  return {
    name,
    role,
    models: { retrieval: `${name}/retrieval`, caption: `${name}/caption`, vqa: `${name}/vqa` },
    sha256: {},
    cost: { retrieval: { parameters: params, flops }, caption: { parameters: params, flops }, vqa: { parameters: params + 1000, flops } },
    // The student's image encoder: 2× faster than the teacher's at batch 1, 8× at batch 32.
    latency: { image: role === 'teacher' ? { batch1Ms: 20, batch32Ms: 160 } : { batch1Ms: 10, batch32Ms: 20 }, retrieval: { batch1Ms: latency, batch32Ms: latency * 8 }, caption: { batch1Ms: latency * 5, batch32Ms: latency * 20 }, vqa: { batch1Ms: latency * 2, batch32Ms: latency * 10 } },
    scores: {
      retrieval: { r1: 80 * scale, tr1: 84 * scale, ir1: 76 * scale, r5: 95 * scale },
      caption: { cider: 100 * scale, bleu4: 30 * scale },
      vqa: { accuracy: 60 * scale },
    },
    metrics: [],
    ...extra,
  };
}

/** Writes the run folder and returns its results. */
export async function writeDemoRun(dir: string): Promise<Results> {
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, 'kd'), { recursive: true });
  await png(join(dir, 'images', 'red.png'), 220, 30, 30);
  await png(join(dir, 'images', 'green.png'), 30, 200, 30);
  await png(join(dir, 'images', 'blue.png'), 30, 30, 220);
  await png(join(dir, 'images', 'grey.png'), 128, 128, 128);
  metricsLog(join(dir, 'kd', 'metrics.jsonl'), ['itc', 'lm', 'kd_lm']);
  metricsLog(join(dir, 'nokd-metrics.jsonl'), ['itc', 'lm']);
  const results: Results = {
    format: 'dlip-results',
    version: 1,
    kind: 'demo',
    command: ['dlip', 'demo', '--budget', '2', '--note', "it's <b>bold</b>"],
    created: '2026-12-01T00:00:00.000Z',
    versions: { dlip: '0.1.0', node: 'v20.0.0', tfjs: '4.22.0' },
    backend: 'native',
    data: { name: 'world-tiny', file: 'data/world-tiny/dataset.json', split: 'test', limit: 4 },
    recipes: { 'dlip-default': { description: 'all terms', terms: { lm: { weight: 1 } } }, 'no-kd': { description: `baseline ${EVIL}`, terms: {} } },
    baseline: 'no-kd',
    teacher: entry('teacher', 'teacher', 1, { sha256: { 'models/tiny-teacher': SHA.teacher } }),
    students: [
      // KD: 3/4 of the teacher everywhere; no KD: 1/2.
      entry('dlip-default/tiny-student/seed 0', 'student', 0.75, { recipe: 'dlip-default', student: 'tiny-student', seed: 0, sha256: { 'kd/model': SHA.kd }, metrics: [{ label: 'distill', file: 'kd/metrics.jsonl' }] }),
      entry('no-kd/tiny-student/seed 0', 'student', 0.5, { recipe: 'no-kd', student: 'tiny-student', seed: 0, sha256: { 'nokd/model': SHA.nokd }, metrics: [{ label: 'train', file: join(dir, 'nokd-metrics.jsonl') }] }),
    ],
    examples: [
      {
        imageId: 'red',
        image: 'images/red.png',
        references: ['a red square on a plain background', 'a red block'],
        questions: [{ question: 'what colour is the square?', answers: ['red'] }, { question: 'how many squares?', answers: ['one', '1'] }],
        outputs: {
          teacher: { caption: 'a red square', answers: ['Red', 'one'], top5: ['red', 'green', 'blue', 'grey'] },
          'dlip-default/tiny-student/seed 0': { caption: `a red zebra ${EVIL}`, answers: ['red', 'two'], top5: ['green', 'red', 'blue'] },
          'no-kd/tiny-student/seed 0': { caption: 'a blue square', answers: ['blue', '1'], top5: ['green', 'blue', 'grey'] },
        },
      },
    ],
    exampleImages: { red: 'images/red.png', green: 'images/green.png', blue: 'images/blue.png', grey: join(dir, 'images', 'grey.png') },
  };
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results, null, 2));
  return results;
}

/** A `dlip distill` run folder as the command leaves it: run.json, metrics.jsonl, teacher.json, final/ and best/ with their manifests. */
export function writeDistillRun(dir: string, { withTeacher = true, withRecord = true } = {}): void {
  mkdirSync(dir, { recursive: true });
  metricsLog(join(dir, 'metrics.jsonl'), ['itc', 'itm', 'kd_feature']);
  // A last validation below the best on two metrics.
  appendFileSync(join(dir, 'metrics.jsonl'), `${JSON.stringify({ step: 50, eval: { tr1: 30, ir1: 25, r_mean: 27.5 } })}\n`);
  if (withRecord) {
    const record = { command: ['dlip', 'distill', '--teacher', 'tiny-teacher', '--out', dir, '--prompt', EVIL], options: { teacher: 'tiny-teacher', student: 'tiny-student', recipe: 'dlip-default', steps: 40 }, recipe: { source: 'recipes/dlip-default.json', value: { description: 'all terms', terms: { kd_feature: { weight: 1 } } } } };
    writeFileSync(join(dir, 'run.json'), JSON.stringify(record));
  }
  if (withTeacher) {
    writeFileSync(join(dir, 'teacher.json'), JSON.stringify({ split: 'val', imageLimit: 4, teacher: 'models/tiny-teacher', student: 'tiny-student', metrics: { tr1: 80, ir1: 60, r_mean: 70 }, parameters: { teacher: 24_000_000, student: 6_000_000 } }));
  }
  for (const [name, sha] of [['final', SHA.kd], ['best', SHA.nokd]] as const) {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'dlip.json'), JSON.stringify({ format: 'dlip-checkpoint', version: '0.1.0', architecture: 'BlipForPreTraining', weights: 'model.safetensors', sha256: sha, parameters: 6_000_000, created: '2026-12-01T00:00:00.000Z' }));
  }
}
