// Inference speed of the same model in TensorFlow.js (dlip's native backend) and as its exported ONNX
// graphs in onnxruntime-node, fp32 and dynamic int8, through the same dlip calls (tfjs tensors in and
// out; the onnx runtimes pay their conversions and the worker hop, as `dlip eval --runtime onnx` does).
// Workloads, each at batch 1 (latency, ms per call) and batch 32 (throughput, items/s):
//   image    image encoder + ITC projection;
//   text     unimodal text encoder + ITC projection, 16-token texts;
//   itm      image-grounded text encoder + ITM head on image-text pairs (image states precomputed);
//   caption  image encoding + a 20-token caption, beam search 3 after [DEC] + "a picture of " (minimum
//            length = maximum, so every runtime decodes 20 steps), with each runtime's key/value cache.
// Weights do not change the cost: models are built from their config (preset or shipped model) with
// random weights. Runtimes alternate call by call; each figure is a median over repeats.
//   node dist/bench/onnx-speed.js [--models tiny-teacher,tiny-student] [--repeats 5] [--warmup 1]
//     [--threads 2] [--batches 1,32] [--out onnx-speed.json]
import { parseArgs } from 'node:util';
import { tf, initBackend, activeBackend } from '../src/engine/backend.js';
import { BLIP_CAPTION_PROMPT } from '../src/data/caption-lengths.js';
import { defaultTokenizer, ENC_ID, SEP_ID } from '../src/data/tokenizer.js';
import { generateCaptions } from '../src/eval/generate.js';
import type { CaptionModel } from '../src/eval/generate.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { createModel } from '../src/models/blip.js';
import type { BlipForPreTraining } from '../src/models/blip.js';
import { resolveConfig } from '../src/models/resolve.js';
import { shippedModelDir } from '../src/models/shipped.js';
import { initParameters } from '../src/nn/init.js';
import { OnnxBlipModel } from '../src/onnx/runtime-model.js';
import { median, report, intFlag } from './util.js';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string' }, repeats: { type: 'string' }, warmup: { type: 'string' }, threads: { type: 'string' },
    batches: { type: 'string' }, out: { type: 'string' },
  },
  strict: true,
});

const count = (flag: string, raw: string | undefined, fallback: number, min: number) => intFlag('onnx-speed', flag, raw, fallback, min);

const CAPTION_TOKENS = 20;
const TEXT_TOKENS = 16;
const WORKLOADS = ['image', 'text', 'itm', 'caption'] as const;
type Workload = (typeof WORKLOADS)[number];

/** What the workloads call: the TypeScript model or its graphs in onnxruntime. */
type Runnable = Pick<BlipForPreTraining, 'encodeImage' | 'imageProjection' | 'encodeText' | 'textProjection' | 'encodeMultimodal' | 'itmLogits'> & CaptionModel;

interface Inputs {
  pixels: tf.Tensor;
  ids: tf.Tensor;
  mask: tf.Tensor;
  itmIds: tf.Tensor;
  imageStates: Map<string, tf.Tensor>;
  prompt: number[];
}

function call(workload: Workload, name: string, model: Runnable, x: Inputs): void {
  if (workload === 'caption') {
    generateCaptions(model, x.pixels, { prompt: x.prompt, numBeams: 3, maxLength: CAPTION_TOKENS, minLength: CAPTION_TOKENS, lengthIncludesPrefix: false, bosTokenId: 30522, eosTokenId: SEP_ID });
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

async function main(): Promise<void> {
  await initBackend('native');
  const specs = (args.models ?? 'tiny-teacher,tiny-student').split(',');
  const repeats = count('repeats', args.repeats, 5, 1);
  const warmup = count('warmup', args.warmup, 1, 0);
  const threads = count('threads', args.threads, 2, 1);
  const batches = (args.batches ?? '1,32').split(',').map((b) => count('batches', b, 1, 1));
  const tokenizer = defaultTokenizer();
  const prompt = tokenizer.encodeOne(BLIP_CAPTION_PROMPT).filter((id) => id !== SEP_ID).slice(1);
  const rows: Record<string, unknown>[] = [];
  for (const spec of specs) {
    const { config } = resolveConfig(shippedModelDir(spec) ?? spec);
    const model = createModel(config, 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 0);
    const runtimes: [string, Runnable][] = [
      ['tfjs', model],
      ['onnx', OnnxBlipModel.fromModel(model, { threads })],
      ['onnx-int8', OnnxBlipModel.fromModel(model, { threads, quantize: 'int8' })],
    ];
    const size = config.vision_config.image_size;
    for (const batch of batches) {
      const pixels = tf.randomUniform([batch, 3, size, size], 0, 1, 'float32', 1);
      const texts = Array.from({ length: batch }, (_, i) => `a small red circle above a large blue square number ${i} on the left side`);
      const enc = tokenizer.encodeToTensors(texts, { maxLength: TEXT_TOKENS, padding: 'max_length' });
      const itmIds = tf.tidy(() => tf.concat([tf.fill([batch, 1], ENC_ID, 'int32'), enc.inputIds.slice([0, 1], [-1, -1])], 1));
      const imageStates = new Map(runtimes.map(([name, m]) => [name, tf.tidy(() => m.encodeImage(pixels).lastHiddenState)]));
      const x: Inputs = { pixels, ids: enc.inputIds, mask: enc.attentionMask, itmIds, imageStates, prompt };
      for (const workload of WORKLOADS) {
        const times = new Map<string, number[]>(runtimes.map(([name]) => [name, []]));
        for (let r = 0; r < warmup + repeats; r++) {
          // Rotate the order each repeat so drifts in machine load hit every runtime alike.
          for (let i = 0; i < runtimes.length; i++) {
            const [name, m] = runtimes[(i + r) % runtimes.length]!;
            const started = performance.now();
            call(workload, name, m, x);
            if (r >= warmup) times.get(name)!.push(performance.now() - started);
          }
        }
        const ms = Object.fromEntries([...times].map(([name, t]) => [name, median(t)]));
        const row = {
          model: spec, workload, batch,
          ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Number(v.toFixed(2))])),
          items_per_s: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Number(((batch * 1000) / v).toFixed(1))])),
          tfjs_over: Object.fromEntries(Object.entries(ms).filter(([k]) => k !== 'tfjs').map(([k, v]) => [k, Number((ms.tfjs! / v).toFixed(2))])),
        };
        rows.push(row);
        report(row);
      }
      tf.dispose([pixels, enc.inputIds, enc.attentionMask, itmIds, ...imageStates.values()]);
    }
    for (const [, m] of runtimes) if (m instanceof OnnxBlipModel) await m.dispose();
    model.dispose();
  }
  if (args.out) await writeJsonAtomic(args.out, { backend: activeBackend(), threads, repeats, caption_tokens: CAPTION_TOKENS, text_tokens: TEXT_TOKENS, rows });
}

await main();
