// Two-stage image-text retrieval as BLIP's evaluation() (train_retrieval.py): rank every pair by ITC
// cosine, keep each query's top k, and rerank those with the ITM match logit + cosine; every other
// entry scores −100. Pairs that are in both directions' top k are scored by ITM once, and ITM runs
// over many pairs per forward, so the cost is ~ (images + texts)·k fused-encoder passes.
import { tf } from '../engine/backend.js';
import { matmul } from '../engine/ops.js';
import { l2Normalize } from '../models/blip.js';
import type { BlipForImageTextRetrieval } from '../models/blip.js';
import { recallAtK } from './metrics/retrieval.js';
import type { RetrievalGroundTruth, RetrievalResult } from './metrics/retrieval.js';

/** What retrieval needs of a model: BlipForImageTextRetrieval and BlipForPreTraining have it. */
export type RetrievalModel = Pick<
  BlipForImageTextRetrieval,
  'encodeImage' | 'encodeText' | 'encodeMultimodal' | 'itmLogits' | 'imageProjection' | 'textProjection'
>;

/** Pixel values [N, 3, S, S] (split into batches here), or batches of them, possibly produced lazily. */
export type ImageSource = tf.Tensor | Iterable<tf.Tensor> | AsyncIterable<tf.Tensor>;

/** All texts, tokenized and padded to one length: input ids and attention mask [texts, L] (int32). */
export interface RetrievalTexts {
  inputIds: tf.Tensor;
  attentionMask: tf.Tensor;
}

export interface RetrievalOptions {
  /** Candidates reranked per query (BLIP: 256 COCO, 128 Flickr); capped at the gallery size. Default 256. */
  k?: number;
  /** Images per vision forward when `images` is one tensor. Default 32. */
  imageBatchSize?: number;
  /** Texts per text-encoder forward. Default 256 (BLIP's). */
  textBatchSize?: number;
  /** Image-text pairs per ITM forward. Default 128. */
  itmBatchSize?: number;
  /**
   * Replace each text's first token with this id for ITM, as the original BLIP does with [ENC]
   * (30523). The HF port keeps [CLS]; so does the default (undefined).
   */
  itmFirstTokenId?: number;
  /** Dispose each batch from an iterable source once encoded (for loaders that hand over ownership). */
  disposeImageBatches?: boolean;
  /** With ground truth, Recall@K is computed too. */
  groundTruth?: RetrievalGroundTruth;
  /** Recall cut-offs; default [1, 5, 10]. */
  ks?: readonly number[];
  /** Progress of the slow stages: encoding images and ITM pairs. */
  onProgress?: (stage: 'images' | 'itm', done: number, total: number | undefined) => void;
}

export interface DenseMatrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

export interface RetrievalScores {
  /** ITC cosine similarity [images × texts]. */
  similarity: DenseMatrix;
  /** Image → text scores [images × texts]: ITM match logit + cosine on each image's top k, else −100. */
  imageToText: DenseMatrix;
  /** Text → image scores [texts × images], likewise over each text's top k images. */
  textToImage: DenseMatrix;
  /** Distinct pairs scored by ITM. */
  itmPairs: number;
  /** Recall@K when ground truth was given. */
  recall?: RetrievalResult;
  /**
   * Recall@K of the first stage alone (ITC cosine, no rerank), when ground truth was given: beside
   * `recall` it shows what the ITM rerank adds, or costs when a small model's ITM head is weak.
   */
  itcRecall?: RetrievalResult;
}

/** BLIP's score for pairs outside a query's top k. */
export const NOT_RERANKED = -100;

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`evaluateRetrieval: ${name} must be a positive integer, got ${value}`);
  return value;
}

async function* imageBatches(images: ImageSource, batchSize: number): AsyncGenerator<{ batch: tf.Tensor; owned: boolean }> {
  if (images instanceof tf.Tensor) {
    const n = images.shape[0]!;
    for (let start = 0; start < n; start += batchSize) {
      yield { batch: images.slice(start, Math.min(batchSize, n - start)), owned: true };
    }
    return;
  }
  for await (const batch of images as AsyncIterable<tf.Tensor>) yield { batch, owned: false };
}

/** Normalised ITC features [texts, P], text-encoder pass in batches. */
function textFeatures(model: RetrievalModel, texts: RetrievalTexts, batchSize: number): tf.Tensor {
  const n = texts.inputIds.shape[0]!;
  const parts: tf.Tensor[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      parts.push(
        tf.tidy(() => {
          const ids = texts.inputIds.slice(start, size);
          const mask = texts.attentionMask.slice(start, size);
          return l2Normalize(model.textProjection(model.encodeText(ids, mask).lastHiddenState));
        }),
      );
    }
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}

/** Indices of each row's k best entries (tf.topk: descending, lower index first among equals). */
function topKRows(scores: tf.Tensor2D, k: number): Int32Array {
  const { values, indices } = tf.topk(scores, k);
  const out = indices.dataSync() as Int32Array;
  tf.dispose([values, indices]);
  return out;
}

/**
 * BLIP's two-stage retrieval evaluation. Keeps every image's token states (images × tokens × width
 * floats) for the ITM stage, as BLIP does, instead of re-encoding an image per pair.
 */
export async function evaluateRetrieval(
  model: RetrievalModel,
  images: ImageSource,
  texts: RetrievalTexts,
  options: RetrievalOptions = {},
): Promise<RetrievalScores> {
  const requestedK = positiveInt(options.k ?? 256, 'k');
  const imageBatchSize = positiveInt(options.imageBatchSize ?? 32, 'imageBatchSize');
  const textBatchSize = positiveInt(options.textBatchSize ?? 256, 'textBatchSize');
  const itmBatchSize = positiveInt(options.itmBatchSize ?? 128, 'itmBatchSize');
  const { inputIds, attentionMask } = texts;
  if (inputIds.rank !== 2 || inputIds.shape.join() !== attentionMask.shape.join()) {
    throw new Error(`evaluateRetrieval: text ids [${inputIds.shape.join(',')}] and mask [${attentionMask.shape.join(',')}] must be the same [texts, length]`);
  }
  const numTexts = inputIds.shape[0]!;
  if (numTexts === 0) throw new Error('evaluateRetrieval: no texts');

  const keep: tf.Tensor[] = [];
  try {
    const textFeat = textFeatures(model, texts, textBatchSize);
    keep.push(textFeat);

    // Images: ITC features, and the token states the ITM stage cross-attends to.
    const featParts: tf.Tensor[] = [];
    const embedParts: tf.Tensor[] = [];
    let numImages = 0;
    try {
      const total = images instanceof tf.Tensor ? images.shape[0]! : undefined;
      for await (const { batch, owned } of imageBatches(images, imageBatchSize)) {
        try {
          if (batch.rank !== 4) throw new Error(`evaluateRetrieval: an image batch has shape [${batch.shape.join(',')}], expected [B, 3, S, S]`);
          const [embeds, feat] = tf.tidy(() => {
            const e = model.encodeImage(batch).lastHiddenState;
            return [e, l2Normalize(model.imageProjection(e))];
          });
          embedParts.push(embeds!);
          featParts.push(feat!);
          numImages += batch.shape[0]!;
          options.onProgress?.('images', numImages, total);
        } finally {
          if (owned || options.disposeImageBatches) batch.dispose();
        }
      }
      if (numImages === 0) throw new Error('evaluateRetrieval: no images');
      keep.push(tf.concat(featParts, 0), tf.concat(embedParts, 0));
    } finally {
      tf.dispose([...featParts, ...embedParts]);
    }
    const [, imageFeat, imageEmbeds] = keep as [tf.Tensor, tf.Tensor2D, tf.Tensor];

    // Stage 1: cosine of every pair, and each query's top k by it.
    const sim = matmul(imageFeat, textFeat, false, true) as tf.Tensor2D;
    keep.push(sim);
    const simData = Float32Array.from(sim.dataSync());
    const kT = Math.min(requestedK, numTexts);
    const kI = Math.min(requestedK, numImages);
    const i2tTop = topKRows(sim, kT);
    const simT = sim.transpose() as tf.Tensor2D;
    const t2iTop = topKRows(simT, kI);
    simT.dispose();

    // Stage 2: ITM on the union of both directions' candidate pairs, keyed image-major.
    const keys = new Float64Array(i2tTop.length + t2iTop.length);
    for (let i = 0; i < numImages; i++) for (let r = 0; r < kT; r++) keys[i * kT + r] = i * numTexts + i2tTop[i * kT + r]!;
    const offset = i2tTop.length;
    for (let t = 0; t < numTexts; t++) for (let r = 0; r < kI; r++) keys[offset + t * kI + r] = t2iTop[t * kI + r]! * numTexts + t;
    keys.sort();
    let unique = 0;
    for (let n = 0; n < keys.length; n++) if (n === 0 || keys[n] !== keys[unique - 1]) keys[unique++] = keys[n]!;
    const pairKeys = keys.subarray(0, unique);
    const itm = new Float32Array(unique);
    for (let start = 0; start < unique; start += itmBatchSize) {
      const end = Math.min(unique, start + itmBatchSize);
      const imgIdx = new Int32Array(end - start);
      const txtIdx = new Int32Array(end - start);
      for (let n = start; n < end; n++) {
        imgIdx[n - start] = Math.floor(pairKeys[n]! / numTexts);
        txtIdx[n - start] = pairKeys[n]! % numTexts;
      }
      const match = tf.tidy(() => {
        const t = tf.tensor1d(txtIdx, 'int32');
        let ids = tf.gather(inputIds, t);
        if (options.itmFirstTokenId !== undefined) {
          const first = tf.fill([end - start, 1], options.itmFirstTokenId, ids.dtype);
          ids = tf.concat([first, ids.slice([0, 1], [-1, -1])], 1);
        }
        const states = model.encodeMultimodal(ids, tf.gather(attentionMask, t), tf.gather(imageEmbeds, tf.tensor1d(imgIdx, 'int32'))).lastHiddenState;
        return model.itmLogits(states).slice([0, 1], [-1, 1]).reshape([-1]);
      });
      itm.set(match.dataSync(), start);
      match.dispose();
      options.onProgress?.('itm', end, unique);
    }

    // Scores: ITM match logit + cosine on the candidates, −100 elsewhere (float32 sums, as BLIP).
    const lookup = (key: number): number => {
      let lo = 0;
      let hi = unique - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pairKeys[mid]! < key) lo = mid + 1;
        else hi = mid;
      }
      return itm[lo]!;
    };
    const i2t = new Float32Array(numImages * numTexts).fill(NOT_RERANKED);
    for (let i = 0; i < numImages; i++) {
      for (let r = 0; r < kT; r++) {
        const t = i2tTop[i * kT + r]!;
        i2t[i * numTexts + t] = lookup(i * numTexts + t) + simData[i * numTexts + t]!;
      }
    }
    const t2i = new Float32Array(numTexts * numImages).fill(NOT_RERANKED);
    for (let t = 0; t < numTexts; t++) {
      for (let r = 0; r < kI; r++) {
        const i = t2iTop[t * kI + r]!;
        t2i[t * numImages + i] = lookup(i * numTexts + t) + simData[i * numTexts + t]!;
      }
    }

    const imageToText = { data: i2t, rows: numImages, cols: numTexts };
    const textToImage = { data: t2i, rows: numTexts, cols: numImages };
    const similarity = { data: simData, rows: numImages, cols: numTexts };
    const recall = options.groundTruth
      ? recallAtK({ ...options.groundTruth, imageToText, textToImageScores: textToImage, ks: options.ks })
      : undefined;
    const itcRecall = options.groundTruth ? recallAtK({ ...options.groundTruth, imageToText: similarity, ks: options.ks }) : undefined;
    return { similarity, imageToText, textToImage, itmPairs: unique, recall, itcRecall };
  } finally {
    tf.dispose(keep);
  }
}
