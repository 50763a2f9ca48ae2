// `dlip eval`: a model folder scored on a dataset split, per task, with the official metrics.
import { openDataset } from '../data/manifest.js';
import type { Dataset, Split } from '../data/manifest.js';
import { builtinWorld } from '../data/world/synth.js';
import { disposeBatch, loadBatches } from '../data/pipeline/loader.js';
import { DecodePool } from '../data/pipeline/decode-pool.js';
import { withoutUndecodable } from '../data/pipeline/decode-check.js';
import type { OnBadSample } from '../data/errors.js';
import { defaultTokenizer, ENC_ID, PAD_ID, SEP_ID } from '../data/tokenizer.js';
import type { BlipTokenizer } from '../data/tokenizer.js';
import { preCaption, preQuestion } from '../data/text.js';
import { BLIP_CAPTION_PROMPT, BLIP_GENERATION_LENGTHS } from '../data/caption-lengths.js';
import type { GenerationLengths } from '../data/caption-lengths.js';
import { tf } from '../engine/backend.js';
import { captionPromptOf, loadModel } from '../io/checkpoint.js';
import { OnnxBlipModel } from '../onnx/runtime-model.js';
import { canAnswer, canCaption, isRetrieval } from './model-kinds.js';
import type { Described, EvaluableModel } from './model-kinds.js';
import { evaluateRetrieval } from './retrieval.js';
import type { DenseMatrix } from './retrieval.js';
import type { RetrievalModel } from './retrieval.js';
import { generateCaptions } from './generate.js';
import type { CaptionModel } from './generate.js';
import { rankVqaAnswers } from './vqa.js';
import type { VqaModel } from './vqa.js';
import { evaluateCaptions } from './metrics/captions.js';
import { vqaAccuracy } from './metrics/vqa.js';
import type { VqaResult } from './metrics/vqa.js';
import type { RetrievalResult } from './metrics/retrieval.js';

/** BLIP's rerank depth for COCO (Flickr30K uses 128). */
export const BLIP_RETRIEVAL_K = 256;

export const TASKS = ['retrieval', 'caption', 'vqa'] as const;
export type Task = (typeof TASKS)[number];

export interface EvalOptions {
  /** A dataset.json (or its folder); the built-in world when absent. */
  data?: string;
  world?: 'tiny' | 'small' | 'large';
  split?: Split;
  tasks: readonly Task[];
  /** Retrieval: candidates reranked by ITM per query. Default: the manifest's `retrievalK`, else 256. */
  k?: number;
  /**
   * Retrieval: the first token of the ITM rerank's text. BLIP trains ITM with [ENC] first (as dlip's
   * objective does) and its evaluation swaps it in too; 'cls' reproduces the Hugging Face port.
   */
  itmFirstToken?: 'enc' | 'cls';
  batchSize?: number;
  /**
   * Captioning: beams (BLIP: 3) and prompt: default, the `captionPrompt` in the dlip.json of the model
   * evaluateModel loads, else BLIP's "a picture of ".
   */
  numBeams?: number;
  /**
   * Captioning lengths, counted as BLIP does ([DEC] and prompt included). Default: the manifest's
   * `generation` lengths when it states them, else BLIP's 20 / 5.
   */
  maxLength?: number;
  minLength?: number;
  prompt?: string;
  /** VQA: candidates kept after the first-token stage. */
  vqaK?: number;
  /** Evaluate at most this many images (retrieval, captioning) or questions (VQA). */
  limit?: number;
  /** Retrieval: report the top 5 images of the first caption of this many leading images (for examples). */
  rankings?: number;
  /** A malformed record or a missing or undecodable image: stop (default) or leave it out before scoring. */
  onBadSample?: OnBadSample;
  onProgress?: (task: Task, done: number, total: number) => void;
  /** Run the model as ONNX graphs in onnxruntime (exported in memory) instead of TensorFlow.js. Default 'tfjs'. */
  runtime?: 'tfjs' | 'onnx';
  /** With runtime 'onnx': int8 linear weights, activations quantised at run time. */
  quantize?: 'int8';
}

export interface EvalReport {
  model: string;
  architecture: string;
  /** How it ran when not in TensorFlow.js: 'onnx' or 'onnx int8'. */
  runtime?: string;
  data: string;
  split: Split;
  retrieval?: {
    images: number;
    texts: number;
    k: number;
    recall: RetrievalResult['textRecall'] & object;
    imageRecall: RetrievalResult['imageRecall'];
    mean: number;
    /** The same recalls from the ITC cosine alone, before the ITM rerank. */
    itc?: { recall: RetrievalResult['textRecall']; imageRecall: RetrievalResult['imageRecall']; mean: number };
    /** With `rankings`: each leading image's first caption as a query, and the ids of its top 5 images, best first. */
    rankings?: { imageId: string; caption: string; top: string[] }[];
  };
  caption?: {
    images: number;
    /** The generation lengths used (whole sequence, as BLIP counts) and where they came from. */
    lengths: GenerationLengths & { from: 'options' | 'manifest' | 'blip' };
    /** The text the captions continue (not scored): scores depend on it, so the report says which. */
    prompt: string;
    bleu4: number;
    cider: number;
    bleu: number[];
    samples: { image: string; caption: string }[];
    /** COCO caption results format: one { image_id, caption } per image. */
    results: { image_id: string; caption: string }[];
  };
  vqa?: {
    questions: number;
    accuracy: number;
    perAnswerType: VqaResult['perAnswerType'];
    perQuestionType: VqaResult['perQuestionType'];
    /** VQA results format: one { question_id, answer } per question. */
    results: { question_id: number; answer: string }[];
  };
  seconds: Record<string, number>;
}

/** With 'skip', the items whose image decodes, found first: scoring cannot lose an image half-way. */
async function usable<T>(items: T[], image: (t: T) => string, source: (t: T) => string, o: EvalOptions, pool: DecodePool): Promise<T[]> {
  return o.onBadSample === 'skip' ? withoutUndecodable(items, image, source, pool, 'the images to evaluate') : items;
}

/** Images in dataset order (no shuffle), decoded by the shared pool. */
function pixelBatches<T>(items: readonly T[], image: (t: T) => string, describe: (t: T) => string, size: number, batchSize: number, pool: DecodePool) {
  return loadBatches(items, { batchSize, imageSize: size, image, describe, shuffle: false, pool });
}

async function retrieval(model: RetrievalModel & Described, dataset: Dataset, o: EvalOptions, split: Split, tokenizer: BlipTokenizer, pool: DecodePool) {
  const images = await usable(dataset.captions(split, { onBadSample: o.onBadSample }).images.slice(0, o.limit), (i) => i.image, (i) => i.source, o, pool);
  const texts = images.flatMap((img, i) => img.captions.map((c) => ({ text: preCaption(c, 30), image: i })));
  const encoded = tokenizer.encodeToTensors(texts.map((t) => t.text), { maxLength: 35, padding: 'longest', firstToken: 'cls' });
  const size = model.config.vision_config.image_size;
  const batches = pixelBatches(images, (i) => i.image, (i) => i.source, size, o.batchSize ?? 32, pool);
  const source = (async function* () {
    for await (const b of batches) yield b.pixels; // no text given: pixels are the batch's only tensor
  })();
  const k = Math.min(o.k ?? dataset.manifest.retrievalK ?? BLIP_RETRIEVAL_K, texts.length);
  const scores = await evaluateRetrieval(model, source, encoded, {
    k,
    itmFirstTokenId: (o.itmFirstToken ?? 'enc') === 'enc' ? ENC_ID : undefined,
    disposeImageBatches: true,
    groundTruth: { textToImage: texts.map((t) => t.image) },
    onProgress: (stage, done, total) => o.onProgress?.('retrieval', done, total ?? (stage === 'images' ? images.length : 0)),
  });
  tf.dispose([encoded.inputIds, encoded.attentionMask]);
  const [r, itc] = [scores.recall!, scores.itcRecall!];
  const rankings = o.rankings ? topImages(scores.textToImage, images, texts, o.rankings) : undefined;
  return {
    images: images.length, texts: texts.length, k, recall: r.textRecall, imageRecall: r.imageRecall, mean: r.mean,
    itc: { recall: itc.textRecall, imageRecall: itc.imageRecall, mean: itc.mean }, ...(rankings && { rankings }),
  };
}

/** The top 5 images (by the reranked text→image score) of the first caption of each of the first `count` images. */
function topImages(textToImage: DenseMatrix, images: { imageId: string }[], texts: { text: string; image: number }[], count: number) {
  return images.slice(0, count).map((img, i) => {
    const query = texts.findIndex((t) => t.image === i);
    const row = textToImage.data.subarray(query * textToImage.cols, (query + 1) * textToImage.cols);
    const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!);
    return { imageId: img.imageId, caption: texts[query]!.text, top: order.slice(0, 5).map((j) => images[j]!.imageId) };
  });
}

async function caption(model: CaptionModel & Described, dataset: Dataset, o: EvalOptions, split: Split, tokenizer: BlipTokenizer, pool: DecodePool) {
  const images = await usable(dataset.captions(split, { onBadSample: o.onBadSample }).images.slice(0, o.limit), (i) => i.image, (i) => i.source, o, pool);
  const promptText = o.prompt ?? BLIP_CAPTION_PROMPT;
  const prompt = tokenizer.encodeOne(promptText).filter((id) => id !== SEP_ID).slice(1);
  const stated = dataset.manifest.generation;
  const from: 'options' | 'manifest' | 'blip' = o.maxLength !== undefined || o.minLength !== undefined ? 'options' : stated ? 'manifest' : 'blip';
  const fallback = stated ?? BLIP_GENERATION_LENGTHS;
  const lengths = { maxLength: o.maxLength ?? fallback.maxLength, minLength: o.minLength ?? fallback.minLength };
  const candidates: Record<string, string> = {};
  const references: Record<string, string[]> = {};
  const size = model.config.vision_config.image_size;
  let done = 0;
  for await (const b of pixelBatches(images, (i) => i.image, (i) => i.source, size, o.batchSize ?? 32, pool)) {
    const generated = generateCaptions(model, b.pixels, { prompt, numBeams: o.numBeams ?? 3, ...lengths });
    b.items.forEach((img, i) => {
      candidates[img.imageId] = tokenizer.decode(generated[i]!.tokens);
      references[img.imageId] = img.captions;
    });
    disposeBatch(b);
    done += b.items.length;
    o.onProgress?.('caption', done, images.length);
  }
  const scores = evaluateCaptions(candidates, references);
  const samples = images.slice(0, 5).map((img) => ({ image: img.image, caption: candidates[img.imageId]! }));
  const results = images.map((img) => ({ image_id: img.imageId, caption: candidates[img.imageId]! }));
  return { images: images.length, lengths: { ...lengths, from }, prompt: promptText, bleu4: scores.bleu[3]!, cider: scores.cider, bleu: [...scores.bleu], samples, results };
}

async function vqa(model: VqaModel & Described, dataset: Dataset, o: EvalOptions, split: Split, tokenizer: BlipTokenizer, pool: DecodePool) {
  const questions = await usable(dataset.vqa(split, { onBadSample: o.onBadSample }).slice(0, o.limit), (q) => q.image, (q) => q.source, o, pool);
  const answers = dataset.answerList();
  const answerTokens = answers.map((a) => tokenizer.encodeOne(a).slice(1, -1));
  const predictions: { questionId: number; answer: string }[] = [];
  const size = model.config.vision_config.image_size;
  for await (const b of pixelBatches(questions, (q) => q.image, (q) => `${q.source}: question ${q.questionId}`, size, o.batchSize ?? 32, pool)) {
    const q = tokenizer.encodeToTensors(b.items.map((s) => preQuestion(s.question)), { maxLength: 35, padding: 'longest', firstToken: 'enc' });
    const ranked = rankVqaAnswers(model, b.pixels, q.inputIds, q.attentionMask, answerTokens, { k: Math.min(o.vqaK ?? 128, answers.length), padTokenId: PAD_ID });
    b.items.forEach((s, i) => predictions.push({ questionId: s.questionId, answer: answers[ranked[i]!.index]! }));
    tf.dispose([q.inputIds, q.attentionMask]);
    disposeBatch(b);
    o.onProgress?.('vqa', predictions.length, questions.length);
  }
  const result = vqaAccuracy(
    questions.map((s) => ({ questionId: s.questionId, answers: s.answers, questionType: s.questionType, answerType: s.answerType })),
    predictions,
  );
  const results = predictions.map((p) => ({ question_id: p.questionId, answer: p.answer }));
  return { questions: questions.length, accuracy: result.overall, perAnswerType: result.perAnswerType, perQuestionType: result.perQuestionType, results };
}

/** Loads `modelDir` and scores it on every requested task it can do. */
export async function evaluateModel(modelDir: string, o: EvalOptions): Promise<EvalReport> {
  const dataset = openDataset(o.data ?? (await builtinWorld(o.world ?? 'small', 0)));
  const { model, manifest } = await loadModel(modelDir);
  const options = { ...o, prompt: o.prompt ?? captionPromptOf(manifest) };
  try {
    if (o.runtime !== 'onnx') return await evaluateLoaded(model, modelDir, dataset, options);
    const graphs = OnnxBlipModel.fromModel(model, { quantize: o.quantize });
    try {
      return await evaluateLoaded(graphs, modelDir, dataset, options);
    } finally {
      await graphs.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** Scores a model in memory (the trainer's validation runs use this). */
export async function evaluateLoaded(model: EvaluableModel, name: string, dataset: Dataset, o: EvalOptions): Promise<EvalReport> {
  const split = o.split ?? 'test';
  const tokenizer = defaultTokenizer();
  const pool = new DecodePool();
  const runtime = model instanceof OnnxBlipModel ? { runtime: model.linearMode === 'int8' ? 'onnx int8' : 'onnx' } : {};
  const report: EvalReport = { model: name, architecture: model.architecture, ...runtime, data: dataset.file, split, seconds: {} };
  try {
    for (const task of o.tasks) {
      const started = Date.now();
      if (task === 'retrieval') {
        if (!isRetrieval(model)) throw new Error(`retrieval needs ITC/ITM heads; ${name} is a ${model.architecture}`);
        report.retrieval = await retrieval(model, dataset, o, split, tokenizer, pool);
      } else if (task === 'caption') {
        if (!canCaption(model)) throw new Error(`captioning needs a caption decoder; ${name} is a ${model.architecture}`);
        report.caption = await caption(model, dataset, o, split, tokenizer, pool);
      } else {
        if (!canAnswer(model)) throw new Error(`VQA needs a VQA model (BlipForQuestionAnswering); ${name} is a ${model.architecture}`);
        report.vqa = await vqa(model, dataset, o, split, tokenizer, pool);
      }
      report.seconds[task] = (Date.now() - started) / 1000;
    }
  } finally {
    await pool.close();
  }
  return report;
}
