// Image-text retrieval Recall@K as BLIP's itm_eval (train_retrieval.py) computes it.

/** A dense row-major matrix: a plain number[][] or a flat typed array with its dimensions. */
export type ScoreMatrix =
  | readonly (readonly number[])[]
  | { readonly data: Float32Array | Float64Array; readonly rows: number; readonly cols: number };

export interface RetrievalGroundTruth {
  /** Text index → index of the image it describes (BLIP's txt2img). */
  readonly textToImage: readonly number[];
  /** Image index → indices of its captions (BLIP's img2txt); derived from textToImage when omitted. */
  readonly imageToTexts?: readonly (readonly number[])[];
}

export interface RetrievalInput extends RetrievalGroundTruth {
  /** Similarity of each image (row) to each text (column). */
  readonly imageToText: ScoreMatrix;
  /**
   * Similarity of each text (row) to each image (column). BLIP reranks each direction's top-k
   * separately, so the two are not transposes in general; when omitted, imageToText is transposed.
   */
  readonly textToImageScores?: ScoreMatrix;
  /** Cut-offs; default [1, 5, 10]. */
  readonly ks?: readonly number[];
}

export interface RetrievalResult {
  /** K → text retrieval (image query) Recall@K ×100 (BLIP's txt_r{K}). */
  readonly textRecall: Readonly<Record<number, number>>;
  /** K → image retrieval (text query) Recall@K ×100 (BLIP's img_r{K}). */
  readonly imageRecall: Readonly<Record<number, number>>;
  /** Mean of textRecall over the Ks (txt_r_mean). */
  readonly textMean: number;
  /** Mean of imageRecall over the Ks (img_r_mean). */
  readonly imageMean: number;
  /** (textMean + imageMean) / 2 (r_mean): the mean of all six recalls for K = 1, 5, 10. */
  readonly mean: number;
  /** Per image, the 0-based rank of its best-ranked ground-truth caption. */
  readonly textRanks: readonly number[];
  /** Per text, the 0-based rank of its image. */
  readonly imageRanks: readonly number[];
}

/** Read access to a score matrix, checked for shape and NaN. */
interface Matrix {
  readonly rows: number;
  readonly cols: number;
  row(i: number): ArrayLike<number>;
  at(i: number, j: number): number;
}

function asMatrix(m: ScoreMatrix, name: string, rows: number, cols: number): Matrix {
  let view: Matrix;
  if ('data' in m) {
    if (m.data.length !== m.rows * m.cols) {
      throw new Error(`recallAtK: ${name} has ${m.data.length} values, not rows × cols = ${m.rows} × ${m.cols}`);
    }
    view = {
      rows: m.rows,
      cols: m.cols,
      row: (i) => m.data.subarray(i * m.cols, (i + 1) * m.cols),
      at: (i, j) => m.data[i * m.cols + j]!,
    };
  } else {
    const width = m[0]?.length ?? 0;
    m.forEach((r, i) => {
      if (r.length !== width) throw new Error(`recallAtK: ${name} row ${i} has ${r.length} columns, row 0 has ${width}`);
    });
    view = { rows: m.length, cols: width, row: (i) => m[i]!, at: (i, j) => m[i]![j]! };
  }
  if (view.rows !== rows || view.cols !== cols) {
    throw new Error(`recallAtK: ${name} is ${view.rows} × ${view.cols}, expected ${rows} × ${cols}`);
  }
  for (let i = 0; i < view.rows; i++) {
    const r = view.row(i);
    for (let j = 0; j < r.length; j++) {
      if (Number.isNaN(r[j])) throw new Error(`recallAtK: ${name}[${i}][${j}] is NaN`);
    }
  }
  return view;
}

function transpose(m: Matrix): Matrix {
  return {
    rows: m.cols,
    cols: m.rows,
    row: (i) => Array.from({ length: m.rows }, (_, j) => m.at(j, i)),
    at: (i, j) => m.at(j, i),
  };
}

/**
 * 0-based position of `target` when the row is sorted by descending score, ties in index order
 * (the lower index first). BLIP uses np.argsort(score)[::-1], whose order among equal scores is
 * not specified (numpy's default sort is not stable); we fix it so results are reproducible.
 * Counting beats sorting: O(n) per query instead of O(n log n).
 */
export function rankOf(row: ArrayLike<number>, target: number): number {
  checkIndex(target, row.length, 'rankOf target');
  const s = row[target]!;
  let rank = 0;
  for (let j = 0; j < row.length; j++) {
    if (row[j]! > s || (row[j] === s && j < target)) rank++;
  }
  return rank;
}

function imageToTextsFrom(textToImage: readonly number[], images: number): number[][] {
  const lists: number[][] = Array.from({ length: images }, () => []);
  textToImage.forEach((img, t) => lists[img]!.push(t));
  return lists;
}

function checkIndex(value: number, size: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= size) {
    throw new Error(`recallAtK: ${what} is ${value}, outside 0..${size - 1}`);
  }
}

function recalls(ranks: readonly number[], ks: readonly number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const k of ks) out[k] = (100 * ranks.filter((r) => r < k).length) / ranks.length;
  return out;
}

function meanOf(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/**
 * Text retrieval (each image queries all texts; its rank is that of its best-ranked ground-truth
 * caption) and image retrieval (each text queries all images; the rank of its one image), as
 * Recall@K ×100, with BLIP's means.
 */
export function recallAtK(input: RetrievalInput): RetrievalResult {
  const ks = input.ks ?? [1, 5, 10];
  if (ks.length === 0) throw new Error('recallAtK: ks is empty');
  for (const k of ks) if (!Number.isInteger(k) || k < 1) throw new Error(`recallAtK: K must be a positive integer, got ${k}`);
  const texts = input.textToImage.length;
  const images = 'data' in input.imageToText ? input.imageToText.rows : input.imageToText.length;
  if (images === 0 || texts === 0) throw new Error('recallAtK: need at least one image and one text');
  input.textToImage.forEach((img, t) => checkIndex(img, images, `textToImage[${t}]`));

  const i2t = asMatrix(input.imageToText, 'imageToText', images, texts);
  const t2i = input.textToImageScores ? asMatrix(input.textToImageScores, 'textToImageScores', texts, images) : transpose(i2t);
  const imageToTexts = input.imageToTexts ?? imageToTextsFrom(input.textToImage, images);
  if (imageToTexts.length !== images) {
    throw new Error(`recallAtK: imageToTexts has ${imageToTexts.length} entries for ${images} images`);
  }

  const textRanks = imageToTexts.map((captions, img) => {
    if (captions.length === 0) throw new Error(`recallAtK: image ${img} has no ground-truth caption`);
    const row = i2t.row(img);
    let best = Infinity;
    captions.forEach((t, n) => {
      checkIndex(t, texts, `imageToTexts[${img}][${n}]`);
      best = Math.min(best, rankOf(row, t));
    });
    return best;
  });
  const imageRanks = input.textToImage.map((img, t) => rankOf(t2i.row(t), img));

  const textRecall = recalls(textRanks, ks);
  const imageRecall = recalls(imageRanks, ks);
  const textMean = meanOf(ks.map((k) => textRecall[k]!));
  const imageMean = meanOf(ks.map((k) => imageRecall[k]!));
  return { textRecall, imageRecall, textMean, imageMean, mean: (textMean + imageMean) / 2, textRanks, imageRanks };
}
