// VQA inference as BLIP runs it (models/blip_vqa.py): the question is read against the image by the
// fusion encoder, then the answer decoder, cross-attending to the question states, either ranks a
// closed list of candidate answers (rank_answer) or generates an answer (beam search).
import { tf } from '../engine/backend.js';
import { softCross } from '../engine/soft-target.js';
import type { TextDecoder } from '../models/blip.js';
import type { TextConfig } from '../models/config.js';
import { chooseDecoder, generate, specialTokens } from './generate.js';
import type { CachedDecoder, GenerateOptions, GeneratedSequence, SequenceDecoder } from './generate.js';
import { cachedDecoder } from './kv-cache.js';

/** A model with BLIP's VQA path (BlipForQuestionAnswering). */
export interface VqaModel {
  encodeImage(pixelValues: tf.Tensor): { lastHiddenState: tf.Tensor };
  encodeQuestion(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor): { lastHiddenState: tf.Tensor };
  decodeAnswer(answerIds: tf.Tensor, answerMask: tf.Tensor, questionStates: tf.Tensor, questionMask: tf.Tensor): { logits: tf.Tensor };
  config?: { text_config: TextConfig };
  /** The answer decoder itself, for generation with a key/value cache. */
  textDecoder?: TextDecoder;
  /** A model that keeps its own key/value cache (the ONNX runtime's answer decoder graph) provides it here instead. */
  cachedAnswerDecoder?(questionStates: tf.Tensor, questionMask: tf.Tensor): CachedDecoder;
}

export interface RankAnswersOptions {
  /** The answer decoder's start token: BLIP's [DEC]. */
  bosTokenId: number;
  /** Appended to every candidate and scored with it, as BLIP's tokenizer output ends in [SEP]. */
  eosTokenId: number;
  /** Padding of candidate batches; never scored. Default 0. */
  padTokenId?: number;
  /** Candidates kept by first-token probability, then rescored in full. Default 128; capped at the list size. */
  k?: number;
  /**
   * BLIP scores a candidate by minus its decoder loss, which uses label smoothing 0.1:
   * Σ_t [(1 − ε)·log p(y_t) + ε·mean_v log p(v)]. Default 0.1 (BLIP); 0 gives the plain log-likelihood.
   */
  labelSmoothing?: number;
  /**
   * Add log p(first token) once more, as ALBEF's rank_answer does. BLIP does not: its sequence loss
   * already contains the first token. Default false.
   */
  addFirstTokenLogProb?: boolean;
  /** Question-candidate pairs per decoder forward. Default 128. */
  batchSize?: number;
}

export interface RankedCandidate {
  /** Index into the candidate list. */
  index: number;
  /** Probability of its first token after [DEC]. */
  firstTokenProb: number;
  /** Its full-sequence score (what the ranking maximises). */
  score: number;
}

export interface RankedAnswer {
  /** Index of the chosen candidate. */
  index: number;
  score: number;
  /** The k candidates that were rescored, in first-token-probability order. */
  candidates: RankedCandidate[];
}

function checkTokens(answers: readonly (readonly number[])[]): void {
  if (answers.length === 0) throw new Error('rankAnswers: the candidate answer list is empty');
  answers.forEach((a, i) => {
    if (a.length === 0) throw new Error(`rankAnswers: candidate answer ${i} has no tokens`);
    a.forEach((id, j) => {
      if (!Number.isInteger(id) || id < 0) throw new Error(`rankAnswers: candidate ${i} token ${j} is ${id}, not a token id`);
    });
  });
}

/** Indices of the k largest values, largest first, lower index first among equals. */
function topIndices(values: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => values[b]! - values[a]! || a - b);
  return order.slice(0, k);
}

/**
 * BLIP's rank_answer for `numQuestions` questions whose states the decoder has bound. `answers` are
 * the candidates' token ids without special tokens (the tokenizer's ids between [CLS] and [SEP]);
 * each is scored as [bos] + answer + [eos]. Returns per question the best candidate.
 */
export function rankAnswers(
  decoder: SequenceDecoder,
  numQuestions: number,
  answers: readonly (readonly number[])[],
  options: RankAnswersOptions,
): RankedAnswer[] {
  checkTokens(answers);
  if (!Number.isInteger(numQuestions) || numQuestions < 0) throw new Error(`rankAnswers: numQuestions must be a count, got ${numQuestions}`);
  const requested = options.k ?? 128;
  if (!Number.isInteger(requested) || requested < 1) throw new Error(`rankAnswers: k must be a positive integer, got ${requested}`);
  const k = Math.min(requested, answers.length);
  const eps = options.labelSmoothing ?? 0.1;
  if (!(eps >= 0 && eps <= 1)) throw new Error(`rankAnswers: labelSmoothing must be in [0, 1], got ${eps}`);
  const batchSize = options.batchSize ?? 128;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`rankAnswers: batchSize must be a positive integer, got ${batchSize}`);
  const pad = options.padTokenId ?? 0;
  if (numQuestions === 0) return [];

  // Stage 1: the distribution of the first answer token given [DEC] alone.
  const firstProbs = tf.tidy(() => {
    const ids = tf.fill([numQuestions, 1], options.bosTokenId, 'int32') as tf.Tensor2D;
    const rows = tf.range(0, numQuestions, 1, 'int32') as tf.Tensor1D;
    const logits = decoder(ids, tf.onesLike(ids), rows);
    const first = logits.rank === 3 ? logits.slice([0, 0, 0], [-1, 1, -1]).reshape([numQuestions, -1]) : logits;
    const vocab = first.shape[1]!;
    answers.forEach((a, i) => {
      if (a[0]! >= vocab) throw new Error(`rankAnswers: candidate ${i} starts with token ${a[0]}, outside the vocabulary of ${vocab}`);
    });
    return tf.gather(tf.softmax(first.toFloat()), tf.tensor1d(answers.map((a) => a[0]!), 'int32'), 1);
  });
  const probs = firstProbs.arraySync() as number[][];
  firstProbs.dispose();
  const chosen = probs.map((row) => topIndices(row, k));

  // Stage 2: teacher-forced score of every (question, candidate) pair, in batches.
  const pairs = chosen.flatMap((cands, q) => cands.map((a) => [q, a] as const));
  const scores = new Float64Array(pairs.length);
  for (let start = 0; start < pairs.length; start += batchSize) {
    const batch = pairs.slice(start, start + batchSize);
    const length = 2 + Math.max(...batch.map(([, a]) => answers[a]!.length));
    const ids = new Int32Array(batch.length * length).fill(pad);
    const mask = new Int32Array(batch.length * length);
    batch.forEach(([, a], n) => {
      const seq = [options.bosTokenId, ...answers[a]!, options.eosTokenId];
      ids.set(seq, n * length);
      mask.fill(1, n * length, n * length + seq.length);
    });
    const sums = tf.tidy(() => {
      const idsT = tf.tensor2d(ids, [batch.length, length], 'int32');
      const maskT = tf.tensor2d(mask, [batch.length, length], 'int32');
      const logits = decoder(idsT, maskT, tf.tensor1d(batch.map(([q]) => q), 'int32'));
      const vocab = logits.shape[2]!;
      // Position t predicts token t+1; targets are every real token after [DEC] (pads ignored). The
      // smoothed log-prob (1 − ε)·log p(target) + ε·mean log p is the cross-entropy against the
      // target (1 − ε)·onehot + ε/V, one fused pass over each row on the native backend.
      const rows = batch.length * (length - 1);
      const targets = idsT.slice([0, 1], [-1, -1]).reshape([rows, 1]);
      const flat = logits.slice([0, 0, 0], [-1, length - 1, -1]).toFloat().reshape([rows, vocab]);
      const target = { ids: targets, probs: tf.fill([rows, 1], 1 - eps + eps / vocab), tail: tf.fill([rows], eps / vocab) };
      const perToken = softCross(flat, target, 1).cross.reshape([batch.length, length - 1]);
      return tf.sum(tf.mul(perToken, maskT.slice([0, 1], [-1, -1]).toFloat()), -1);
    });
    scores.set(sums.dataSync(), start);
    sums.dispose();
  }

  return chosen.map((cands, q) => {
    const candidates = cands.map((index, j) => {
      const firstTokenProb = probs[q]![index]!;
      const sum = scores[q * k + j]!;
      return { index, firstTokenProb, score: options.addFirstTokenLogProb ? sum + Math.log(firstTokenProb) : sum };
    });
    // argmax, the first among equals (torch.argmax).
    let best = candidates[0]!;
    for (const c of candidates) if (c.score > best.score) best = c;
    return { index: best.index, score: best.score, candidates };
  });
}

/**
 * A SequenceDecoder over BLIP's answer decoder with the question states [Q, Tq, W] and their mask
 * [Q, Tq] bound; each sequence cross-attends to the question its row names.
 */
export function answerDecoder(model: Pick<VqaModel, 'decodeAnswer'>, questionStates: tf.Tensor, questionMask: tf.Tensor): SequenceDecoder {
  return (ids, mask, rows) => model.decodeAnswer(ids, mask, tf.gather(questionStates, rows), tf.gather(questionMask, rows)).logits;
}

/** Question states [B, Tq, W] of images [B, 3, S, S] and questions (ids and mask [B, Tq]). */
export function encodeQuestions(model: Pick<VqaModel, 'encodeImage' | 'encodeQuestion'>, pixelValues: tf.Tensor, questionIds: tf.Tensor, questionMask: tf.Tensor): tf.Tensor {
  if (pixelValues.shape[0] !== questionIds.shape[0]) {
    throw new Error(`VQA: ${pixelValues.shape[0]} images for ${questionIds.shape[0]} questions`);
  }
  return tf.tidy(() => model.encodeQuestion(questionIds, questionMask, model.encodeImage(pixelValues).lastHiddenState).lastHiddenState);
}

function tokensFrom(model: VqaModel, options: { bosTokenId?: number; eosTokenId?: number }, caller: string) {
  const defaults = model.config ? specialTokens(model.config.text_config) : undefined;
  const bosTokenId = options.bosTokenId ?? defaults?.bosTokenId;
  const eosTokenId = options.eosTokenId ?? defaults?.eosTokenId;
  if (bosTokenId === undefined || eosTokenId === undefined) {
    throw new Error(`${caller}: bosTokenId and eosTokenId are needed (the model has no config to take them from)`);
  }
  return { bosTokenId, eosTokenId, padTokenId: model.config?.text_config.pad_token_id };
}

/**
 * Answers one question per image by ranking `answers` (BLIP's `inference='rank'`). Question ids are
 * used as given: the original BLIP puts [ENC] first, the HF port keeps [CLS].
 */
export function rankVqaAnswers(
  model: VqaModel,
  pixelValues: tf.Tensor,
  questionIds: tf.Tensor,
  questionMask: tf.Tensor,
  answers: readonly (readonly number[])[],
  options: Partial<RankAnswersOptions> = {},
): RankedAnswer[] {
  checkTokens(answers);
  const tokens = tokensFrom(model, options, 'rankVqaAnswers');
  const states = encodeQuestions(model, pixelValues, questionIds, questionMask);
  try {
    return rankAnswers(answerDecoder(model, states, questionMask), states.shape[0]!, answers, {
      ...options,
      ...tokens,
      padTokenId: options.padTokenId ?? tokens.padTokenId,
    });
  } finally {
    states.dispose();
  }
}

export interface VqaGenerateOptions extends Partial<GenerateOptions> {
  /**
   * Mask the question's padding in the decoder's cross-attention. BLIP and the HF port attend to
   * every question position when generating (an all-ones mask), unlike when ranking. Default false.
   */
  maskQuestionPadding?: boolean;
  /** Decode with a key/value cache (see CaptionOptions.kvCache). Default: true when the model exposes its textDecoder or cachedAnswerDecoder. */
  kvCache?: boolean;
}

/**
 * Open-ended answers (BLIP's `inference='generate'`). Defaults are BLIP's: 3 beams, max_length 10
 * and min_length 1 counted with [DEC] (generate's default counting), i.e. at most 9 generated tokens
 * and no minimum.
 */
export function generateVqaAnswers(
  model: VqaModel,
  pixelValues: tf.Tensor,
  questionIds: tf.Tensor,
  questionMask: tf.Tensor,
  options: VqaGenerateOptions = {},
): GeneratedSequence[] {
  const tokens = tokensFrom(model, options, 'generateVqaAnswers');
  const states = encodeQuestions(model, pixelValues, questionIds, questionMask);
  const crossMask = options.maskQuestionPadding ? questionMask : tf.onesLike(questionMask);
  const { kvCache, ...search } = options;
  const decoder = chooseDecoder(kvCache, () => answerDecoder(model, states, crossMask), {
    own: model.cachedAnswerDecoder && (() => model.cachedAnswerDecoder!(states, crossMask)),
    textDecoder: model.textDecoder,
    over: (d) => cachedDecoder(d, states, crossMask),
  }, 'generateVqaAnswers');
  try {
    return generate(decoder, states.shape[0]!, {
      numBeams: 3,
      maxLength: 10,
      minLength: 1,
      ...search,
      bosTokenId: tokens.bosTokenId,
      eosTokenId: tokens.eosTokenId,
    });
  } finally {
    if (typeof decoder !== 'function') decoder.dispose();
    states.dispose();
    if (crossMask !== questionMask) crossMask.dispose();
  }
}
