// Measured inference latency of models on the active backend, for four workloads run as dlip's
// evaluation runs them:
//   image      the vision tower on B images;
//   retrieval  B text queries against a gallery of G images encoded beforehand (their ITC features and
//              token states kept, as evaluation keeps them): the queries' ITC features, cosine against
//              the gallery, each query's top k, and the ITM rerank of those B·k pairs ([ENC] first,
//              128 pairs a forward) scored as ITM match logit + cosine — the text→image half of
//              evaluateRetrieval's second stage;
//   caption    one caption per image from pixels: beam search 3 after [DEC] + "a picture of ", with the
//              minimum length set to the maximum so every model decodes the same number of steps
//              whatever its weights would pick;
//   vqa        one answer per image-question pair from pixels: rank the data set's answer list
//              (first-token stage, then the top min(128, list) candidates in full), as `dlip eval`.
// Weights do not change these costs, so models are built from their config with random weights. The
// models alternate call by call (a drift in machine load hits all alike); each figure is a median.
import { tf } from '../engine/backend.js';
import { matmul } from '../engine/ops.js';
import { BLIP_CAPTION_PROMPT } from '../data/caption-lengths.js';
import type { Dataset } from '../data/manifest.js';
import { preCaption, preQuestion } from '../data/text.js';
import { defaultTokenizer, ENC_ID, PAD_ID, SEP_ID } from '../data/tokenizer.js';
import { createModel, l2Normalize } from '../models/blip.js';
import type { BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipForQuestionAnswering, BlipModel } from '../models/blip.js';
import type { Architecture, BlipConfig } from '../models/config.js';
import { initParameters } from '../nn/init.js';
import { generateCaptions } from './generate.js';
import { rankVqaAnswers } from './vqa.js';

export const LATENCY_WORKLOADS = ['image', 'retrieval', 'caption', 'vqa'] as const;
export type LatencyWorkload = (typeof LATENCY_WORKLOADS)[number];

const ARCHITECTURE: Record<LatencyWorkload, Architecture> = {
  image: 'BlipForImageTextRetrieval',
  retrieval: 'BlipForImageTextRetrieval',
  caption: 'BlipForConditionalGeneration',
  vqa: 'BlipForQuestionAnswering',
};

export interface LatencyOptions {
  workloads?: readonly LatencyWorkload[];
  batches?: readonly number[];
  /** Timed calls per model, workload and batch, after the untimed warm-up. */
  repeats?: number;
  /** Untimed calls per model before timing: at least `warmup` and at least `warmupMs` milliseconds of them. */
  warmup?: number;
  warmupMs?: number;
  gallery?: number;
  k?: number;
  captionLength?: number;
  /** Called after each (workload, batch) with the medians so far. */
  onMeasured?(row: LatencyRow): void;
}

export interface LatencyRow {
  workload: LatencyWorkload;
  batch: number;
  /** Median milliseconds per call, by model name. */
  ms: Record<string, number>;
  /** Tensors a call left alive (a leak that would skew later timings), by model name; empty when none. */
  leaks: Record<string, number>;
  /** Untimed warm-up calls each model made first. */
  warmupCalls: number;
}

/** What every call reads, tokenized once: captions as queries, questions, and the answer list. */
interface Texts {
  captions: { inputIds: tf.Tensor; attentionMask: tf.Tensor };
  questions: { inputIds: tf.Tensor; attentionMask: tf.Tensor };
  answers: number[][];
  prompt: number[];
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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

function encodeGallery(model: BlipForImageTextRetrieval, images: number): Gallery {
  const size = model.config.vision_config.image_size;
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

/** One workload's call for one model at one batch size. */
function workload(task: LatencyWorkload, model: BlipModel, batch: number, texts: Texts, gallery: Gallery | undefined, o: { k: number; captionLength: number }): { call: () => void; dispose: () => void } {
  const size = model.config.vision_config.image_size;
  const pixels = tf.randomUniform([batch, 3, size, size], 0, 1, 'float32', batch);
  const captions = { ids: rows(texts.captions.inputIds, batch), mask: rows(texts.captions.attentionMask, batch) };
  const questions = { ids: rows(texts.questions.inputIds, batch), mask: rows(texts.questions.attentionMask, batch) };
  const dispose = () => tf.dispose([pixels, captions.ids, captions.mask, questions.ids, questions.mask]);
  const calls: Record<LatencyWorkload, () => void> = {
    image: () => tf.tidy(() => void model.encodeImage(pixels).lastHiddenState.dataSync()),
    retrieval: () => void retrieve(model as BlipForImageTextRetrieval, gallery!, captions.ids, captions.mask, o.k),
    caption: () => void generateCaptions(model as BlipForConditionalGeneration, pixels, { prompt: texts.prompt, numBeams: 3, maxLength: o.captionLength, minLength: o.captionLength }),
    vqa: () => void rankVqaAnswers(model as BlipForQuestionAnswering, pixels, questions.ids, questions.mask, texts.answers, { k: Math.min(128, texts.answers.length), padTokenId: PAD_ID }),
  };
  return { call: calls[task], dispose };
}

function tokenizeTexts(dataset: Dataset, batch: number): Texts {
  const tokenizer = defaultTokenizer();
  const captions = dataset.captions('train').images.flatMap((i) => i.captions.map((c) => preCaption(c, 30)));
  const questions = dataset.vqa('train').map((q) => preQuestion(q.question));
  return {
    captions: tokenizer.encodeToTensors(captions.slice(0, batch), { maxLength: 35, padding: 'longest', firstToken: 'cls' }),
    questions: tokenizer.encodeToTensors(questions.slice(0, batch), { maxLength: 35, padding: 'longest', firstToken: 'enc' }),
    answers: dataset.answerList().map((a) => tokenizer.encodeOne(a).slice(1, -1)),
    prompt: tokenizer.encodeOne(BLIP_CAPTION_PROMPT).filter((id) => id !== SEP_ID).slice(1),
  };
}

/**
 * Median latency of each named model on each workload and batch. Texts (captions, questions, the answer
 * list) come from `dataset`'s training split.
 */
export function measureLatency(models: Record<string, BlipConfig>, dataset: Dataset, options: LatencyOptions = {}): LatencyRow[] {
  const { workloads = LATENCY_WORKLOADS, batches = [1, 32], repeats = 5, warmup = 1, warmupMs = 500, gallery: galleryImages = 64, k = 16, captionLength = 20 } = options;
  if (k > galleryImages) throw new Error(`latency: k ${k} is larger than the gallery (${galleryImages} images)`);
  const texts = tokenizeTexts(dataset, Math.max(...batches));
  const rowsOut: LatencyRow[] = [];
  try {
    for (const task of workloads) {
      const built = Object.entries(models).map(([name, config], index) => {
        const model = createModel(config, ARCHITECTURE[task]);
        initParameters(model, index + 1);
        const gallery = task === 'retrieval' ? encodeGallery(model as BlipForImageTextRetrieval, galleryImages) : undefined;
        return { name, model, gallery };
      });
      try {
        for (const batch of batches) {
          const runs = built.map((m) => ({ ...m, ...workload(task, m.model, batch, texts, m.gallery, { k, captionLength }), times: [] as number[], warmMs: 0, leaked: 0 }));
          let rounds = 0;
          /** One call of every model, in alternating order; timed, or added to its warm-up time. */
          const round = (timed: boolean) => {
            for (const run of rounds++ % 2 ? [...runs].reverse() : runs) {
              const before = tf.memory().numTensors;
              const t0 = performance.now();
              run.call();
              const ms = performance.now() - t0;
              run.leaked += tf.memory().numTensors - before;
              if (timed) run.times.push(ms);
              else run.warmMs += ms;
            }
          };
          let warmupCalls = 0;
          try {
            // Warm up until every model has had `warmup` calls and `warmupMs` of them: V8 optimises a
            // call's JavaScript only after many runs, and one cold call of a millisecond-long workload
            // measured up to 2x slow.
            for (; warmupCalls < warmup || runs.some((run) => run.warmMs < warmupMs); warmupCalls++) round(false);
            for (let r = 0; r < repeats; r++) round(true);
          } finally {
            runs.forEach((run) => run.dispose());
          }
          const row: LatencyRow = {
            workload: task,
            batch,
            ms: Object.fromEntries(runs.map((run) => [run.name, median(run.times)])),
            leaks: Object.fromEntries(runs.filter((run) => run.leaked !== 0).map((run) => [run.name, run.leaked])),
            warmupCalls,
          };
          rowsOut.push(row);
          options.onMeasured?.(row);
        }
      } finally {
        for (const m of built) {
          if (m.gallery) tf.dispose([m.gallery.features, m.gallery.states]);
          m.model.dispose();
        }
      }
    }
  } finally {
    tf.dispose([texts.captions.inputIds, texts.captions.attentionMask, texts.questions.inputIds, texts.questions.attentionMask]);
  }
  return rowsOut;
}
