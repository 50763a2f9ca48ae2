// Inference speed of a teacher and its student on the same backend (issue 10 §5: the student should
// be ≥ 2.7x faster), at batch 1 and batch 32, for the four workloads of src/eval/latency.ts (image
// encoding, retrieval scoring, a caption, a VQA answer), random weights, alternating, medians.
//   node dist/bench/distill-speed.js --teacher tiny-teacher --student tiny-student [--batches 1,32]
//     [--repeats 5] [--warmup 1] [--warmup-ms 500] [--tasks image,retrieval,caption,vqa] [--gallery 64] [--k 16]
//     [--caption-length 20] [--world tiny | --data dataset.json] [--backend native] [--out speed.json]
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, activeBackend } from '../src/engine/backend.js';
import { openDataset } from '../src/data/manifest.js';
import { builtinWorld } from '../src/data/world/synth.js';
import { LATENCY_WORKLOADS, measureLatency } from '../src/eval/latency.js';
import type { LatencyWorkload } from '../src/eval/latency.js';
import { writeFileAtomic, writeJsonAtomic } from '../src/io/atomic.js';
import { resolveConfig } from '../src/models/resolve.js';

const { values: args } = parseArgs({
  options: {
    teacher: { type: 'string' }, student: { type: 'string' }, batches: { type: 'string' }, repeats: { type: 'string' },
    warmup: { type: 'string' }, 'warmup-ms': { type: 'string' }, tasks: { type: 'string' }, gallery: { type: 'string' }, k: { type: 'string' },
    'caption-length': { type: 'string' }, world: { type: 'string' }, data: { type: 'string' }, backend: { type: 'string' },
    out: { type: 'string' }, help: { type: 'boolean' },
  },
  strict: true,
});

/** Issue 10's bar for the student's speed-up. */
const TARGET_SPEEDUP = 2.7;

function fail(message: string): never {
  process.stderr.write(`distill-speed: ${message}\n`);
  process.exit(2);
}

function ints(flag: string, raw: string | undefined, fallback: number[], min: number): number[] {
  if (raw === undefined) return fallback;
  return raw.split(',').map((x) => {
    const n = Number(x);
    if (x.trim() === '' || !Number.isInteger(n) || n < min) fail(`--${flag} ${raw}: "${x}" is not an integer ≥ ${min}`);
    return n;
  });
}
const int = (flag: string, raw: string | undefined, fallback: number, min = 1) => ints(flag, raw, [fallback], min)[0]!;

interface Row {
  task: LatencyWorkload;
  batch: number;
  teacherMs: number;
  studentMs: number;
  /** Teacher time / student time. */
  speedup: number;
}

async function main(): Promise<void> {
  if (args.help || !args.teacher || !args.student) {
    process.stdout.write(`${usage()}\n`);
    if (!args.help) process.exitCode = 2;
    return;
  }
  if (args.world !== undefined && args.data !== undefined) fail('give --world or --data, not both');
  const batches = ints('batches', args.batches, [1, 32], 1);
  const repeats = int('repeats', args.repeats, 5);
  const warmup = int('warmup', args.warmup, 1, 0);
  const warmupMs = int('warmup-ms', args['warmup-ms'], 500, 0);
  const galleryImages = int('gallery', args.gallery, 64);
  const k = int('k', args.k, 16);
  if (k > galleryImages) fail(`--k ${k} is larger than the gallery (--gallery ${galleryImages})`);
  const captionLength = int('caption-length', args['caption-length'], 20, 1);
  const tasks = (args.tasks?.split(',').map((t) => t.trim()) ?? [...LATENCY_WORKLOADS]) as LatencyWorkload[];
  const bad = tasks.find((t) => !(LATENCY_WORKLOADS as readonly string[]).includes(t));
  if (bad) fail(`--tasks: unknown workload "${bad}"; choose from ${LATENCY_WORKLOADS.join(', ')}`);
  const configs = { teacher: resolveConfig(args.teacher).config, student: resolveConfig(args.student).config };

  await initBackend(args.backend);
  const world = args.world ?? 'tiny';
  if (!['tiny', 'small', 'large'].includes(world)) fail(`--world ${world}: expected tiny, small or large`);
  const dataset = openDataset(args.data ?? (await builtinWorld(world as 'tiny' | 'small' | 'large', 0)));

  process.stderr.write(`backend ${activeBackend()}, ${process.env.DLIP_THREADS ?? 2} threads; teacher ${args.teacher}, student ${args.student}; ${repeats} repeats after at least ${warmup} warm-up calls and ${warmupMs} ms\n`);
  const leaks: string[] = [];
  const results: Row[] = measureLatency(configs, dataset, {
    workloads: tasks, batches, repeats, warmup, warmupMs, gallery: galleryImages, k, captionLength,
    onMeasured: (row) => {
      for (const [who, n] of Object.entries(row.leaks)) leaks.push(`${row.workload} batch ${row.batch} ${who}: ${n} tensors`);
      process.stderr.write(`${row.workload} batch ${row.batch}: teacher ${row.ms.teacher!.toFixed(1)} ms, student ${row.ms.student!.toFixed(1)} ms, speed-up ${(row.ms.teacher! / row.ms.student!).toFixed(2)}x\n`);
    },
  }).map((row) => ({ task: row.workload, batch: row.batch, teacherMs: row.ms.teacher!, studentMs: row.ms.student!, speedup: row.ms.teacher! / row.ms.student! }));

  const markdown = [
    `Backend ${activeBackend()}, medians of ${repeats} calls (teacher and student alternating); retrieval: gallery ${galleryImages}, top ${k} reranked; captions ${captionLength} tokens, beam 3.`,
    '',
    '| workload | batch | teacher ms | student ms | speed-up | ≥ 2.7x |',
    '|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.task} | ${r.batch} | ${r.teacherMs.toFixed(1)} | ${r.studentMs.toFixed(1)} | ${r.speedup.toFixed(2)}x | ${r.speedup >= TARGET_SPEEDUP ? 'yes' : '**no**'} |`),
  ].join('\n');
  process.stdout.write(`${markdown}\n`);
  if (leaks.length) process.stderr.write(`tensors left alive by a call (a leak that skews later timings): ${leaks.join('; ')}\n`);
  if (args.out) {
    await mkdir(dirname(args.out), { recursive: true });
    await writeJsonAtomic(args.out, {
      backend: activeBackend(), threads: Number(process.env.DLIP_THREADS ?? 2), teacher: args.teacher, student: args.student,
      repeats, warmup, warmupMs, gallery: galleryImages, k, captionLength, results, leaks,
    });
    await writeFileAtomic(args.out.replace(/\.json$/, '') + '.md', `${markdown}\n`);
  }
}

/** The usage text: the header comment's command lines. */
function usage(): string {
  return [
    'Teacher vs student inference speed, same backend: image encoding, retrieval scoring (ITC top k + ITM rerank),',
    'one caption (beam 3, fixed length), one VQA answer (answer-list ranking); medians, alternating; random weights.',
    '',
    '  node dist/bench/distill-speed.js --teacher <preset|config|dir> --student <preset|config|dir>',
    '    [--batches 1,32] [--repeats 5] [--warmup 1] [--warmup-ms 500] [--tasks image,retrieval,caption,vqa]',
    '    [--gallery 64] [--k 16] [--caption-length 20] [--world tiny | --data dataset.json]',
    '    [--backend native] [--out speed.json]   (--out also writes speed.md)',
  ].join('\n');
}

try {
  await main();
} catch (err) {
  process.stderr.write(`distill-speed: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.DLIP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
