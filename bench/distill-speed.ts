// Inference speed of a teacher and its student on the same backend (issue 10 §5: the student should
// be ≥ 2.7x faster), at batch 1 and batch 32, for four workloads run as dlip's evaluation runs them:
//   image      the vision tower on B images;
//   retrieval  B text queries against a gallery of G images encoded beforehand (their ITC features and
//              token states kept, as evaluation keeps them): the queries' ITC features, cosine against
//              the gallery, each query's top k, and the ITM rerank of those B·k pairs ([ENC] first,
//              128 pairs a forward) scored as ITM match logit + cosine — the text→image half of
//              evaluateRetrieval's second stage;
//   caption    one caption per image from pixels: beam search 3 after [DEC] + "a picture of ", with the
//              minimum length set to the maximum so both models decode the same number of steps
//              whatever their (random) weights would pick;
//   vqa        one answer per image-question pair from pixels: rank the data set's answer list
//              (first-token stage, then the top min(128, list) candidates in full), as `dlip eval`.
// Weights do not change these costs, so models are built from their config (a preset, a config JSON
// or a model folder's config.json) with random weights. Teacher and student alternate call by call;
// each figure is the median over repeats.
//   node dist/bench/distill-speed.js --teacher tiny-teacher --student tiny-student [--batches 1,32]
//     [--repeats 5] [--warmup 1] [--tasks image,retrieval,caption,vqa] [--gallery 64] [--k 16]
//     [--caption-length 20] [--world tiny | --data dataset.json] [--backend native] [--out speed.json]
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { tf, initBackend, activeBackend } from '../src/engine/backend.js';
import { matmul } from '../src/engine/ops.js';
import { BLIP_CAPTION_PROMPT } from '../src/data/caption-lengths.js';
import { openDataset } from '../src/data/manifest.js';
import { preCaption, preQuestion } from '../src/data/text.js';
import { defaultTokenizer, ENC_ID, PAD_ID, SEP_ID } from '../src/data/tokenizer.js';
import { builtinWorld } from '../src/data/world/synth.js';
import { generateCaptions } from '../src/eval/generate.js';
import { rankVqaAnswers } from '../src/eval/vqa.js';
import { writeFileAtomic, writeJsonAtomic } from '../src/io/atomic.js';
import { createModel, l2Normalize } from '../src/models/blip.js';
import type { BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipForQuestionAnswering, BlipModel } from '../src/models/blip.js';
import type { Architecture, BlipConfig } from '../src/models/config.js';
import { resolveConfig } from '../src/models/resolve.js';
import { initParameters } from '../src/nn/init.js';
import { median } from './util.js';

const { values: args } = parseArgs({
  options: {
    teacher: { type: 'string' }, student: { type: 'string' }, batches: { type: 'string' }, repeats: { type: 'string' },
    warmup: { type: 'string' }, tasks: { type: 'string' }, gallery: { type: 'string' }, k: { type: 'string' },
    'caption-length': { type: 'string' }, world: { type: 'string' }, data: { type: 'string' }, backend: { type: 'string' },
    out: { type: 'string' }, help: { type: 'boolean' },
  },
  strict: true,
});

const TASKS = ['image', 'retrieval', 'caption', 'vqa'] as const;
type SpeedTask = (typeof TASKS)[number];
const ARCHITECTURE: Record<SpeedTask, Architecture> = {
  image: 'BlipForImageTextRetrieval',
  retrieval: 'BlipForImageTextRetrieval',
  caption: 'BlipForConditionalGeneration',
  vqa: 'BlipForQuestionAnswering',
};
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

/** What every call reads, tokenized once: captions as queries, questions, and the answer list. */
interface Texts {
  captions: { inputIds: tf.Tensor; attentionMask: tf.Tensor };
  questions: { inputIds: tf.Tensor; attentionMask: tf.Tensor };
  answers: number[][];
  prompt: number[];
}

/** `n` rows of `t`, cycling when it has fewer. */
function rows(t: tf.Tensor, n: number): tf.Tensor {
  return tf.tidy(() => tf.gather(t, tf.tensor1d(Array.from({ length: n }, (_, i) => i % t.shape[0]!), 'int32')));
}

/** The retrieval gallery of one model: ITC features [G, P] and token states [G, tokens, W]. */
interface Gallery {
  features: tf.Tensor;
  states: tf.Tensor;
}

function encodeGallery(model: BlipForImageTextRetrieval, size: number, images: number): Gallery {
  const parts: Gallery[] = [];
  for (let start = 0; start < images; start += 32) {
    parts.push(tf.tidy(() => {
      const pixels = tf.randomUniform([Math.min(32, images - start), 3, size, size], 0, 1, 'float32', start);
      const states = model.encodeImage(pixels).lastHiddenState;
      return { features: l2Normalize(model.imageProjection(states)), states };
    }));
  }
  const gallery = { features: tf.concat(parts.map((p) => p.features)), states: tf.concat(parts.map((p) => p.states)) };
  tf.dispose(parts.map((p) => [p.features, p.states]));
  return gallery;
}

/** Text→image retrieval of B queries: ITC top k of the gallery, reranked by ITM + cosine. Returns each query's best image. */
function retrieve(model: BlipForImageTextRetrieval, gallery: Gallery, ids: tf.Tensor, mask: tf.Tensor, k: number): Int32Array {
  const queries = ids.shape[0]!;
  const [cosine, top] = tf.tidy(() => {
    const q = l2Normalize(model.textProjection(model.encodeText(ids, mask).lastHiddenState));
    const { values, indices } = tf.topk(matmul(q, gallery.features, false, true) as tf.Tensor2D, k);
    return [values.dataSync() as Float32Array, indices.dataSync() as Int32Array];
  });
  const scores = new Float32Array(queries * k);
  const itmIds = tf.tidy(() => tf.concat([tf.fill([queries, 1], ENC_ID, 'int32'), ids.slice([0, 1], [-1, -1])], 1));
  try {
    for (let start = 0; start < queries * k; start += 128) {
      const end = Math.min(queries * k, start + 128);
      const match = tf.tidy(() => {
        const query = tf.tensor1d(Array.from({ length: end - start }, (_, n) => Math.floor((start + n) / k)), 'int32');
        const image = tf.tensor1d(top.subarray(start, end), 'int32');
        const states = model.encodeMultimodal(tf.gather(itmIds, query), tf.gather(mask, query), tf.gather(gallery.states, image)).lastHiddenState;
        return model.itmLogits(states).slice([0, 1], [-1, 1]).reshape([-1]);
      });
      const m = match.dataSync();
      match.dispose();
      for (let n = start; n < end; n++) scores[n] = m[n - start]! + cosine[n]!;
    }
  } finally {
    itmIds.dispose();
  }
  const best = new Int32Array(queries);
  for (let q = 0; q < queries; q++) {
    let arg = 0;
    for (let r = 1; r < k; r++) if (scores[q * k + r]! > scores[q * k + arg]!) arg = r;
    best[q] = top[q * k + arg]!;
  }
  return best;
}

/** One workload's call for one model at one batch size; returns a function that runs it once. */
function workload(task: SpeedTask, model: BlipModel, batch: number, texts: Texts, gallery: Gallery | undefined, o: { k: number; captionLength: number }): { call: () => void; dispose: () => void } {
  const size = model.config.vision_config.image_size;
  const pixels = tf.randomUniform([batch, 3, size, size], 0, 1, 'float32', batch);
  const captions = { ids: rows(texts.captions.inputIds, batch), mask: rows(texts.captions.attentionMask, batch) };
  const questions = { ids: rows(texts.questions.inputIds, batch), mask: rows(texts.questions.attentionMask, batch) };
  const dispose = () => tf.dispose([pixels, captions.ids, captions.mask, questions.ids, questions.mask]);
  const calls: Record<SpeedTask, () => void> = {
    image: () => tf.tidy(() => void model.encodeImage(pixels).lastHiddenState.dataSync()),
    retrieval: () => void retrieve(model as BlipForImageTextRetrieval, gallery!, captions.ids, captions.mask, o.k),
    caption: () => void generateCaptions(model as BlipForConditionalGeneration, pixels, { prompt: texts.prompt, numBeams: 3, maxLength: o.captionLength, minLength: o.captionLength }),
    vqa: () => void rankVqaAnswers(model as BlipForQuestionAnswering, pixels, questions.ids, questions.mask, texts.answers, { k: Math.min(128, texts.answers.length), padTokenId: PAD_ID }),
  };
  return { call: calls[task], dispose };
}

interface Row {
  task: SpeedTask;
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
  const galleryImages = int('gallery', args.gallery, 64);
  const k = int('k', args.k, 16);
  if (k > galleryImages) fail(`--k ${k} is larger than the gallery (--gallery ${galleryImages})`);
  const captionLength = int('caption-length', args['caption-length'], 20, 1);
  const tasks = (args.tasks?.split(',').map((t) => t.trim()) ?? [...TASKS]) as SpeedTask[];
  const bad = tasks.find((t) => !(TASKS as readonly string[]).includes(t));
  if (bad) fail(`--tasks: unknown workload "${bad}"; choose from ${TASKS.join(', ')}`);
  const configs: Record<'teacher' | 'student', BlipConfig> = { teacher: resolveConfig(args.teacher).config, student: resolveConfig(args.student).config };

  await initBackend(args.backend);
  const world = args.world ?? 'tiny';
  if (!['tiny', 'small', 'large'].includes(world)) fail(`--world ${world}: expected tiny, small or large`);
  const dataset = openDataset(args.data ?? (await builtinWorld(world as 'tiny' | 'small' | 'large', 0)));
  const tokenizer = defaultTokenizer();
  const captions = dataset.captions('train').images.flatMap((i) => i.captions.map((c) => preCaption(c, 30)));
  const questions = dataset.vqa('train').map((q) => preQuestion(q.question));
  const texts: Texts = {
    captions: tokenizer.encodeToTensors(captions.slice(0, Math.max(...batches)), { maxLength: 35, padding: 'longest', firstToken: 'cls' }),
    questions: tokenizer.encodeToTensors(questions.slice(0, Math.max(...batches)), { maxLength: 35, padding: 'longest', firstToken: 'enc' }),
    answers: dataset.answerList().map((a) => tokenizer.encodeOne(a).slice(1, -1)),
    prompt: tokenizer.encodeOne(BLIP_CAPTION_PROMPT).filter((id) => id !== SEP_ID).slice(1),
  };

  process.stderr.write(`backend ${activeBackend()}, ${process.env.DLIP_THREADS ?? 2} threads; teacher ${args.teacher}, student ${args.student}; ${repeats} repeats after ${warmup} warm-up\n`);
  const results: Row[] = [];
  const leaks: string[] = [];
  for (const task of tasks) {
    const models = (['teacher', 'student'] as const).map((who) => {
      const model = createModel(configs[who], ARCHITECTURE[task]);
      initParameters(model, who === 'teacher' ? 1 : 2);
      const gallery = task === 'retrieval' ? encodeGallery(model as BlipForImageTextRetrieval, model.config.vision_config.image_size, galleryImages) : undefined;
      return { who, model, gallery };
    });
    try {
      for (const batch of batches) {
        const runs = models.map((m) => ({ ...m, ...workload(task, m.model, batch, texts, m.gallery, { k, captionLength }), times: [] as number[] }));
        try {
          for (let r = 0; r < warmup + repeats; r++) {
            // Alternate who goes first, so a drift in machine load hits both alike.
            for (const run of r % 2 ? [...runs].reverse() : runs) {
              const before = tf.memory().numTensors;
              const t0 = performance.now();
              run.call();
              const ms = performance.now() - t0;
              if (tf.memory().numTensors !== before) leaks.push(`${task} batch ${batch} ${run.who}: ${tf.memory().numTensors - before} tensors`);
              if (r >= warmup) run.times.push(ms);
            }
          }
        } finally {
          runs.forEach((run) => run.dispose());
        }
        const [teacherMs, studentMs] = runs.map((run) => median(run.times)) as [number, number];
        const row = { task, batch, teacherMs, studentMs, speedup: teacherMs / studentMs };
        results.push(row);
        process.stderr.write(`${task} batch ${batch}: teacher ${teacherMs.toFixed(1)} ms, student ${studentMs.toFixed(1)} ms, speed-up ${row.speedup.toFixed(2)}x\n`);
      }
    } finally {
      for (const m of models) {
        if (m.gallery) tf.dispose([m.gallery.features, m.gallery.states]);
        m.model.dispose();
      }
    }
  }
  tf.dispose([texts.captions.inputIds, texts.captions.attentionMask, texts.questions.inputIds, texts.questions.attentionMask]);

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
      repeats, warmup, gallery: galleryImages, k, captionLength, results, leaks,
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
    '    [--batches 1,32] [--repeats 5] [--warmup 1] [--tasks image,retrieval,caption,vqa]',
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
