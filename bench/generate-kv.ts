// Caption and VQA-answer generation with the decoder's key/value cache against recomputing every
// prefix (the path before issue 12), on the same model, inputs and backend, alternating call by call;
// each figure is the median over repeats, the ratio is recompute / cached. Workloads per model:
//   caption-beam3   BLIP's captioning: [DEC] + "a picture of ", beam search 3, 20 new tokens;
//   caption-greedy  the same with greedy search;
//   vqa-beam3       open-ended answers (BLIP's inference='generate'): question read against the image,
//                   answer decoder with beam search 3 after [DEC], 9 new tokens (BLIP's max_length 10).
// Minimum lengths are set to the maximum so every run decodes the same number of steps whatever the
// (random) weights would pick; weights do not change the cost, so models are built from their config.
// Both paths must produce the same tokens: a difference is reported and fails the run.
// Models are presets, shipped models (models/<name>), folders or config files.
//   node dist/bench/generate-kv.js [--models tiny-teacher,tiny-student] [--batch 8] [--repeats 5]
//     [--warmup 1] [--backend native] [--out kv.json]
import { parseArgs } from 'node:util';
import { tf, initBackend, activeBackend } from '../src/engine/backend.js';
import { BLIP_CAPTION_PROMPT } from '../src/data/caption-lengths.js';
import { defaultTokenizer, SEP_ID } from '../src/data/tokenizer.js';
import { generateCaptions } from '../src/eval/generate.js';
import type { GeneratedSequence } from '../src/eval/generate.js';
import { generateVqaAnswers } from '../src/eval/vqa.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { createModel } from '../src/models/blip.js';
import type { BlipForConditionalGeneration, BlipForQuestionAnswering } from '../src/models/blip.js';
import { resolveConfig } from '../src/models/resolve.js';
import { shippedModelDir } from '../src/models/shipped.js';
import { initParameters } from '../src/nn/init.js';
import { median, report, intFlag } from './util.js';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string' }, batch: { type: 'string' }, repeats: { type: 'string' }, warmup: { type: 'string' },
    backend: { type: 'string' }, out: { type: 'string' },
  },
  strict: true,
});

const count = (flag: string, raw: string | undefined, fallback: number, min: number) => intFlag('generate-kv', flag, raw, fallback, min);

const CAPTION_TOKENS = 20;
const ANSWER_TOKENS = 9;

type Run = (kvCache: boolean) => GeneratedSequence[];

/** Times `run` with and without the cache, alternating; checks both give the same tokens. */
function measure(name: string, model: string, run: Run, repeats: number, warmup: number): Record<string, unknown> {
  const times: Record<'cached' | 'full', number[]> = { cached: [], full: [] };
  let same = true;
  for (let r = 0; r < warmup + repeats; r++) {
    const outputs: Partial<Record<'cached' | 'full', GeneratedSequence[]>> = {};
    for (const path of r % 2 ? (['full', 'cached'] as const) : (['cached', 'full'] as const)) {
      const started = performance.now();
      outputs[path] = run(path === 'cached');
      if (r >= warmup) times[path].push(performance.now() - started);
    }
    same &&= JSON.stringify(outputs.cached!.map((g) => g.tokens)) === JSON.stringify(outputs.full!.map((g) => g.tokens));
  }
  const cached = median(times.cached);
  const full = median(times.full);
  return { model, workload: name, full_ms: Math.round(full), cached_ms: Math.round(cached), ratio: Number((full / cached).toFixed(2)), same_tokens: same };
}

async function main(): Promise<void> {
  await initBackend(args.backend);
  const specs = (args.models ?? 'tiny-teacher,tiny-student').split(',');
  const batch = count('batch', args.batch, 8, 1);
  const repeats = count('repeats', args.repeats, 5, 1);
  const warmup = count('warmup', args.warmup, 1, 0);
  const tokenizer = defaultTokenizer();
  const prompt = tokenizer.encodeOne(BLIP_CAPTION_PROMPT).filter((id) => id !== SEP_ID).slice(1);
  const question = tokenizer.encodeToTensors(Array.from({ length: batch }, (_, i) => `what colour is the shape number ${i}?`), { maxLength: 35, padding: 'longest', firstToken: 'enc' });
  const rows: Record<string, unknown>[] = [];
  for (const spec of specs) {
    const { config } = resolveConfig(shippedModelDir(spec) ?? spec);
    const size = config.vision_config.image_size;
    const pixels = tf.randomUniform([batch, 3, size, size], 0, 1, 'float32', 1);
    const captioner = createModel(config, 'BlipForConditionalGeneration') as BlipForConditionalGeneration;
    initParameters(captioner, 0);
    const lengths = { maxLength: CAPTION_TOKENS, minLength: CAPTION_TOKENS, lengthIncludesPrefix: false };
    for (const numBeams of [3, 1]) {
      const run: Run = (kvCache) => generateCaptions(captioner, pixels, { prompt, numBeams, ...lengths, kvCache });
      rows.push(measure(`caption-${numBeams === 1 ? 'greedy' : `beam${numBeams}`}`, spec, run, repeats, warmup));
      report(rows.at(-1)!);
    }
    captioner.dispose();
    const answerer = createModel(config, 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
    initParameters(answerer, 0);
    const vqa: Run = (kvCache) =>
      generateVqaAnswers(answerer, pixels, question.inputIds, question.attentionMask, { numBeams: 3, maxLength: ANSWER_TOKENS + 1, minLength: ANSWER_TOKENS + 1, kvCache });
    rows.push(measure('vqa-beam3', spec, vqa, repeats, warmup));
    report(rows.at(-1)!);
    answerer.dispose();
    pixels.dispose();
  }
  const summary = { backend: activeBackend(), batch, repeats, caption_tokens: CAPTION_TOKENS, answer_tokens: ANSWER_TOKENS, rows };
  if (args.out) await writeJsonAtomic(args.out, summary);
  if (rows.some((r) => !r.same_tokens)) {
    process.stderr.write('generate-kv: the cached and the recomputing paths generated different tokens\n');
    process.exit(1);
  }
}

await main();
