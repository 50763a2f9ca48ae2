// Inference speed of the same model in TensorFlow.js (dlip's native backend) and as its exported ONNX
// graphs in onnxruntime-node, fp32 and dynamic int8, through the same dlip calls (tfjs tensors in and
// out; the onnx runtimes pay their conversions and the worker hop, as `dlip eval --runtime onnx` does).
// Workloads, each at batch 1 (latency, ms per call) and batch 32 (throughput, items/s):
//   image    image encoder + ITC projection;
//   text     unimodal text encoder + ITC projection, 16-token texts;
//   itm      image-grounded text encoder + ITM head on image-text pairs (image states precomputed);
//   caption  image encoding + a 20-token caption, beam search 3 after [DEC] + "a picture of " (minimum
//            length = maximum, so every runtime decodes 20 steps), with each runtime's key/value cache;
//   vqa      an open-ended answer (BlipForQuestionAnswering, generateVqaAnswers as dlip's VQA generation):
//            image encoding, the 16-token question read against the image, then 9 answer tokens, beam
//            search 3 after [DEC] (BLIP's max_length 10, minimum = maximum), with the key/value cache.
// Weights do not change the cost: models are built from their config (preset or shipped model) with
// random weights. Runtimes alternate call by call; each figure is a median over repeats.
// PyTorch (Debian's python3-torch) runs the same workloads on the same config as a reference, in
// bench/onnx_speed.py, after the dlip runtimes of each model (a separate process, so not interleaved);
// skipped with a message when python3 or torch is missing, or with --no-torch. PYTHON picks the python.
//   node dist/bench/onnx-speed.js [--models tiny-teacher,tiny-student] [--repeats 5] [--warmup 1]
//     [--threads 2] [--batches 1,32] [--no-torch] [--out onnx-speed.json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { tf, initBackend, activeBackend } from '../src/engine/backend.js';
import { BLIP_CAPTION_PROMPT } from '../src/data/caption-lengths.js';
import { defaultTokenizer, ENC_ID, SEP_ID } from '../src/data/tokenizer.js';
import { generateCaptions } from '../src/eval/generate.js';
import type { CaptionModel } from '../src/eval/generate.js';
import { generateVqaAnswers } from '../src/eval/vqa.js';
import type { VqaModel } from '../src/eval/vqa.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { createModel } from '../src/models/blip.js';
import type { BlipForPreTraining, BlipForQuestionAnswering } from '../src/models/blip.js';
import type { BlipConfig } from '../src/models/config.js';
import { resolveConfig } from '../src/models/resolve.js';
import { shippedModelDir } from '../src/models/shipped.js';
import { initParameters } from '../src/nn/init.js';
import { OnnxBlipModel } from '../src/onnx/runtime-model.js';
import { median, report, intFlag } from './util.js';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string' }, repeats: { type: 'string' }, warmup: { type: 'string' }, threads: { type: 'string' },
    batches: { type: 'string' }, out: { type: 'string' }, 'no-torch': { type: 'boolean' },
  },
  strict: true,
});

const count = (flag: string, raw: string | undefined, fallback: number, min: number) => intFlag('onnx-speed', flag, raw, fallback, min);

const CAPTION_TOKENS = 20;
const TEXT_TOKENS = 16;
const QUESTION_TOKENS = 16;
const ANSWER_TOKENS = 9;
const WORKLOADS = ['image', 'text', 'itm', 'caption', 'vqa'] as const;
type Workload = (typeof WORKLOADS)[number];

/** What the workloads call: the TypeScript models or their graphs in onnxruntime. */
interface Runtime {
  name: string;
  model: Pick<BlipForPreTraining, 'encodeImage' | 'imageProjection' | 'encodeText' | 'textProjection' | 'encodeMultimodal' | 'itmLogits'> & CaptionModel;
  answerer: VqaModel;
}

interface Inputs {
  pixels: tf.Tensor;
  ids: tf.Tensor;
  mask: tf.Tensor;
  itmIds: tf.Tensor;
  questionIds: tf.Tensor;
  questionMask: tf.Tensor;
  imageStates: Map<string, tf.Tensor>;
  prompt: number[];
}

function call(workload: Workload, { name, model, answerer }: Runtime, x: Inputs): void {
  if (workload === 'caption') {
    generateCaptions(model, x.pixels, { prompt: x.prompt, numBeams: 3, maxLength: CAPTION_TOKENS, minLength: CAPTION_TOKENS, lengthIncludesPrefix: false, bosTokenId: 30522, eosTokenId: SEP_ID });
    return;
  }
  if (workload === 'vqa') {
    generateVqaAnswers(answerer, x.pixels, x.questionIds, x.questionMask, { numBeams: 3, maxLength: ANSWER_TOKENS + 1, minLength: ANSWER_TOKENS + 1 });
    return;
  }
  tf.tidy(() => {
    let out: tf.Tensor;
    if (workload === 'image') out = model.imageProjection(model.encodeImage(x.pixels).lastHiddenState);
    else if (workload === 'text') out = model.textProjection(model.encodeText(x.ids, x.mask).lastHiddenState);
    else out = model.itmLogits(model.encodeMultimodal(x.itmIds, x.mask, x.imageStates.get(name)!).lastHiddenState);
    out.dataSync();
  });
}

const python = process.env.PYTHON ?? '/usr/bin/python3';
const pythonScript = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'onnx_speed.py');

/** Why the PyTorch reference cannot run, or undefined when it can. */
function torchMissing(): string | undefined {
  if (args['no-torch']) return '--no-torch';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error) return `${python} not found (${probe.error.message}); set PYTHON`;
  if (probe.status !== 0) return `PyTorch not found for ${python}: apt-get install python3-torch (benchmark only)`;
  return undefined;
}

/** Median ms of bench/onnx_speed.py per "workload batch", on the same config, lengths and prompt. */
function pytorchTimes(config: BlipConfig, o: { batches: number[]; repeats: number; warmup: number; threads: number; prompt: number[] }): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'dlip-onnx-speed-'));
  try {
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(config));
    const r = spawnSync(python, [
      pythonScript, '--config', configPath, '--batches', o.batches.join(','), '--repeats', String(o.repeats), '--warmup', String(o.warmup),
      '--threads', String(o.threads), '--text-tokens', String(TEXT_TOKENS), '--question-tokens', String(QUESTION_TOKENS),
      '--caption-tokens', String(CAPTION_TOKENS), '--answer-tokens', String(ANSWER_TOKENS), '--prompt', o.prompt.join(','),
    ], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'passive' }, maxBuffer: 1 << 24 });
    const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) throw new Error(`onnx-speed: ${pythonScript} failed (exit ${r.status}):\n${r.stderr}`);
    const out = JSON.parse(line) as { rows: { workload: string; batch: number; ms: number }[] };
    return new Map(out.rows.map((row) => [`${row.workload} ${row.batch}`, row.ms]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ratios = (over: number, ms: Record<string, number>, skip: string) =>
  Object.fromEntries(Object.entries(ms).filter(([k]) => k !== skip).map(([k, v]) => [k, Number((over / v).toFixed(2))]));

async function main(): Promise<void> {
  await initBackend('native');
  const specs = (args.models ?? 'tiny-teacher,tiny-student').split(',');
  const repeats = count('repeats', args.repeats, 5, 1);
  const warmup = count('warmup', args.warmup, 1, 0);
  const threads = count('threads', args.threads, 2, 1);
  const batches = (args.batches ?? '1,32').split(',').map((b) => count('batches', b, 1, 1));
  const tokenizer = defaultTokenizer();
  const prompt = tokenizer.encodeOne(BLIP_CAPTION_PROMPT).filter((id) => id !== SEP_ID).slice(1);
  const noTorch = torchMissing();
  if (noTorch) console.log(`onnx-speed: no PyTorch reference column (${noTorch})`);
  const rows: Record<string, unknown>[] = [];
  for (const spec of specs) {
    const { config } = resolveConfig(shippedModelDir(spec) ?? spec);
    const model = createModel(config, 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 0);
    const answerer = createModel(config, 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
    initParameters(answerer, 0);
    const runtimes: Runtime[] = [
      { name: 'tfjs', model, answerer },
      { name: 'onnx', model: OnnxBlipModel.fromModel(model, { threads }), answerer: OnnxBlipModel.fromModel(answerer, { threads }) },
      { name: 'onnx-int8', model: OnnxBlipModel.fromModel(model, { threads, quantize: 'int8' }), answerer: OnnxBlipModel.fromModel(answerer, { threads, quantize: 'int8' }) },
    ];
    const modelRows: { workload: Workload; batch: number; ms: Record<string, number> }[] = [];
    const size = config.vision_config.image_size;
    for (const batch of batches) {
      const pixels = tf.randomUniform([batch, 3, size, size], 0, 1, 'float32', 1);
      const texts = Array.from({ length: batch }, (_, i) => `a small red circle above a large blue square number ${i} on the left side`);
      const enc = tokenizer.encodeToTensors(texts, { maxLength: TEXT_TOKENS, padding: 'max_length' });
      const itmIds = tf.tidy(() => tf.concat([tf.fill([batch, 1], ENC_ID, 'int32'), enc.inputIds.slice([0, 1], [-1, -1])], 1));
      const questions = Array.from({ length: batch }, (_, i) => `what colour is the shape number ${i}?`);
      const question = tokenizer.encodeToTensors(questions, { maxLength: QUESTION_TOKENS, padding: 'max_length', firstToken: 'enc' });
      const imageStates = new Map(runtimes.map(({ name, model: m }) => [name, tf.tidy(() => m.encodeImage(pixels).lastHiddenState)]));
      const x: Inputs = {
        pixels, ids: enc.inputIds, mask: enc.attentionMask, itmIds, questionIds: question.inputIds, questionMask: question.attentionMask, imageStates, prompt,
      };
      for (const workload of WORKLOADS) {
        const times = new Map<string, number[]>(runtimes.map(({ name }) => [name, []]));
        for (let r = 0; r < warmup + repeats; r++) {
          // Rotate the order each repeat so drifts in machine load hit every runtime alike.
          for (let i = 0; i < runtimes.length; i++) {
            const runtime = runtimes[(i + r) % runtimes.length]!;
            const started = performance.now();
            call(workload, runtime, x);
            if (r >= warmup) times.get(runtime.name)!.push(performance.now() - started);
          }
        }
        modelRows.push({ workload, batch, ms: Object.fromEntries([...times].map(([name, t]) => [name, median(t)])) });
        console.log(JSON.stringify({ model: spec, workload, batch, ms: modelRows.at(-1)!.ms }));
      }
      tf.dispose([pixels, enc.inputIds, enc.attentionMask, itmIds, question.inputIds, question.attentionMask, ...imageStates.values()]);
    }
    for (const r of runtimes) {
      for (const m of [r.model, r.answerer]) if (m instanceof OnnxBlipModel) await m.dispose();
    }
    model.dispose();
    answerer.dispose();
    const reference = noTorch ? undefined : pytorchTimes(config, { batches, repeats, warmup, threads, prompt });
    for (const { workload, batch, ms } of modelRows) {
      const torchMs = reference?.get(`${workload} ${batch}`);
      if (torchMs !== undefined) ms.pytorch = torchMs;
      const row = {
        model: spec, workload, batch,
        ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Number(v.toFixed(2))])),
        items_per_s: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Number(((batch * 1000) / v).toFixed(1))])),
        tfjs_over: ratios(ms.tfjs!, ms, 'tfjs'),
        // > 1: that runtime is faster than PyTorch.
        ...(torchMs === undefined ? {} : { pytorch_over: ratios(torchMs, ms, 'pytorch') }),
      };
      rows.push(row);
      report(row);
    }
  }
  if (args.out) {
    await writeJsonAtomic(args.out, {
      backend: activeBackend(), threads, repeats, caption_tokens: CAPTION_TOKENS, text_tokens: TEXT_TOKENS, question_tokens: QUESTION_TOKENS, answer_tokens: ANSWER_TOKENS,
      pytorch: noTorch ? `not measured: ${noTorch}` : 'bench/onnx_speed.py', rows,
    });
  }
}

await main();
