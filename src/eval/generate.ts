// Greedy and beam-search decoding for captions and open-ended answers, with the semantics of the
// Hugging Face `generate()` that BLIP's published numbers come from (transformers 4.1x): processors
// (repetition penalty, minimum length) act on raw logits in greedy search and on log-softmax scores
// in beam search; beam hypotheses are ranked by sum log-prob / length^length_penalty, with length
// the hypothesis' full sequence (BOS and prompt included, EOS excluded), and the search stops early
// as BeamHypotheses.is_done says. Every live sequence of every input runs in one decoder call, and
// finished inputs leave the batch. A SequenceDecoder recomputes the whole sequence each step; a
// CachedDecoder (kv-cache.ts) keeps keys and values, so a step feeds one token per sequence.
import { borrowValues, tf } from '../engine/backend.js';
import type { TextDecoder } from '../models/blip.js';
import type { TextConfig } from '../models/config.js';
import { cachedDecoder } from './kv-cache.js';
import { scoreRows, TopK } from './top-k.js';

/**
 * One decoder forward over a batch of token sequences. `rows[n]` is the input (image or question)
 * that sequence n belongs to, so the caller gathers the states it cross-attends to. Returns logits
 * [N, T, vocab] (only the last position is read) or [N, vocab] for the last position alone.
 * Called inside tf.tidy: intermediate tensors are freed by the caller.
 */
export type SequenceDecoder = (inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, rows: tf.Tensor1D) => tf.Tensor;

/**
 * A decoder that keeps each sequence's attention keys and values between calls, so a step costs the
 * new token only. Stateful: `start` begins a generation (dropping any earlier one), `step` continues it.
 */
export interface CachedDecoder {
  /** Begins sequences `prefix` (equal lengths; rows[n]: the input sequence n belongs to). Logits [N, vocab] of their last position. */
  start(prefix: readonly (readonly number[])[], rows: readonly number[]): tf.Tensor;
  /**
   * Sequence n of this step continues sequence parents[n] of the previous call (beams reorder,
   * finished inputs drop out) with tokens[n]. Logits [N, vocab] of the new position.
   */
  step(tokens: readonly number[], parents: readonly number[]): tf.Tensor;
  /** Frees the cache. */
  dispose(): void;
}

/** Either kind of decoder the searches run. */
export type Decoder = SequenceDecoder | CachedDecoder;

/** A model with BLIP's caption decoder (BlipForConditionalGeneration, BlipForPreTraining). */
export interface CaptionModel {
  encodeImage(pixelValues: tf.Tensor): { lastHiddenState: tf.Tensor };
  decode(inputIds: tf.Tensor, attentionMask: tf.Tensor, imageEmbeds: tf.Tensor): { logits: tf.Tensor };
  /** The decoder itself, for generation with a key/value cache. */
  textDecoder?: TextDecoder;
  /** A model that keeps its own key/value cache (the ONNX runtime's decoder graph) provides it here instead. */
  cachedDecoder?(imageEmbeds: tf.Tensor): CachedDecoder;
}

export interface GenerateOptions {
  /** First token of every sequence: BLIP's [DEC] (text_config.bos_token_id). */
  bosTokenId: number;
  /** Ends a sequence: BLIP's [SEP] (text_config.sep_token_id, 102). */
  eosTokenId: number;
  /** Token ids placed after BOS, e.g. BLIP's "a picture of "; not part of the output. */
  prompt?: readonly number[];
  /** 1 = greedy search. Default 3. */
  numBeams?: number;
  /** Longest sequence, EOS included; counts BOS and prompt too unless lengthIncludesPrefix is false. Default 20. */
  maxLength?: number;
  /** EOS is blocked until the sequence has this many tokens (counted as maxLength is). Default 5. */
  minLength?: number;
  /**
   * Count maxLength/minLength over the whole sequence, BOS and prompt included, as HF's
   * max_length/min_length do and BLIP's captioner relies on (20 and 5 with "[DEC] a picture of ":
   * at most 16 new tokens). False counts generated tokens only (HF max_new_tokens). Default true.
   */
  lengthIncludesPrefix?: boolean;
  /** HF repetition penalty over every token already in the sequence (BOS and prompt too). Default 1. */
  repetitionPenalty?: number;
  /** Exponent of the length normaliser of beam hypotheses. Default 1. */
  lengthPenalty?: number;
}

export interface GeneratedSequence {
  /** Generated token ids: no BOS, prompt, EOS or padding. */
  tokens: number[];
  /** Sum of the model's log-probabilities of the generated tokens, EOS included (unprocessed). */
  logProb: number;
  /** What the search ranked by: logProb for greedy; the HF hypothesis score for beam search. */
  score: number;
}

interface Resolved {
  prefix: number[];
  eos: number;
  numBeams: number;
  maxNew: number;
  minNew: number;
  repetitionPenalty: number;
  lengthPenalty: number;
}

function checkInt(value: number, name: string, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`generate: ${name} must be an integer ≥ ${min}, got ${value}`);
}

function resolve(options: GenerateOptions): Resolved {
  const prompt = options.prompt ?? [];
  const prefix = [options.bosTokenId, ...prompt];
  prefix.forEach((id, i) => checkInt(id, i === 0 ? 'bosTokenId' : `prompt[${i - 1}]`, 0));
  checkInt(options.eosTokenId, 'eosTokenId', 0);
  const numBeams = options.numBeams ?? 3;
  checkInt(numBeams, 'numBeams', 1);
  const maxLength = options.maxLength ?? 20;
  const minLength = options.minLength ?? 5;
  checkInt(maxLength, 'maxLength', 1);
  checkInt(minLength, 'minLength', 0);
  const counted = (options.lengthIncludesPrefix ?? true) ? prefix.length : 0;
  const maxNew = maxLength - counted;
  if (maxNew < 1) {
    throw new Error(`generate: maxLength ${maxLength} counts the ${prefix.length}-token BOS + prompt and leaves no token to generate`);
  }
  const repetitionPenalty = options.repetitionPenalty ?? 1;
  if (!(repetitionPenalty > 0)) throw new Error(`generate: repetitionPenalty must be > 0, got ${repetitionPenalty}`);
  const lengthPenalty = options.lengthPenalty ?? 1;
  if (!Number.isFinite(lengthPenalty)) throw new Error(`generate: lengthPenalty must be finite, got ${lengthPenalty}`);
  return { prefix, eos: options.eosTokenId, numBeams, maxNew, minNew: Math.max(0, minLength - counted), repetitionPenalty, lengthPenalty };
}

/**
 * A decoder's output for n sequences as one flat array [n × vocab] of last-position logits, readable
 * until release() (the backend's own storage where it lends it: see borrowValues).
 */
function readLast(n: number, run: () => tf.Tensor): { data: Float32Array; vocab: number; release(): void } {
  const last = tf.tidy(() => {
    const out = run();
    if (out.shape[0] !== n || (out.rank !== 2 && out.rank !== 3)) {
      throw new Error(`generate: the decoder returned shape [${out.shape.join(',')}] for ${n} sequences; expected [${n}, T, vocab] or [${n}, vocab]`);
    }
    if (out.rank === 2) return out.toFloat();
    const t = out.shape[1]!;
    return out.slice([0, t - 1, 0], [n, 1, -1]).reshape([n, out.shape[2]!]).toFloat();
  });
  return { data: borrowValues(last), vocab: last.shape[1]!, release: () => last.dispose() };
}

/**
 * Next-token logits of each sequence. `parents[n]` is the index, in the previous call's list, of the
 * sequence seqs[n] extends by its last token (undefined on the first call): a cached decoder needs
 * it, a full one recomputes from the tokens.
 */
function nextLogits(decoder: Decoder, seqs: readonly number[][], rows: readonly number[], parents: readonly number[] | undefined) {
  const n = seqs.length;
  if (typeof decoder !== 'function') {
    return readLast(n, () => (parents ? decoder.step(seqs.map((s) => s[s.length - 1]!), parents) : decoder.start(seqs, rows)));
  }
  const len = seqs[0]!.length;
  const flat = new Int32Array(n * len);
  seqs.forEach((s, i) => flat.set(s, i * len));
  return readLast(n, () => {
    const ids = tf.tensor2d(flat, [n, len], 'int32');
    return decoder(ids, tf.onesLike(ids), tf.tensor1d(Int32Array.from(rows), 'int32'));
  });
}

/**
 * The processed scores that differ from the plain ones (`score(v)`), by token: HF's
 * RepetitionPenaltyLogitsProcessor (tokens present lose score, whatever their sign), then the
 * minimum length's blocked EOS. `store` rounds a value as the score array it stands for would.
 */
function processedScores(o: Resolved, vocab: number, seq: readonly number[], blockEos: boolean, score: (v: number) => number, store: (x: number) => number): Map<number, number> {
  const out = new Map<number, number>();
  if (o.repetitionPenalty !== 1) {
    for (const id of new Set(seq)) {
      if (id >= vocab) continue;
      const v = score(id);
      out.set(id, store(v < 0 ? v * o.repetitionPenalty : v / o.repetitionPenalty));
    }
  }
  if (blockEos && o.eos < vocab) out.set(o.eos, -Infinity);
  return out;
}

/** The most entries processedScores changes in a row of a sequence of `length` tokens. */
function processedMax(o: Resolved, length: number): number {
  return (o.repetitionPenalty !== 1 ? length : 0) + 1;
}

/** Greedy search: the processed argmax each step (lowest id on ties, as torch.argmax). */
export function greedySearch(decoder: Decoder, count: number, options: GenerateOptions): GeneratedSequence[] {
  const o = resolve(options);
  checkInt(count, 'count', 0);
  const seqs = Array.from({ length: count }, () => [...o.prefix]);
  const logProbs = new Array<number>(count).fill(0);
  let active = seqs.map((_, i) => i);
  let parents: number[] | undefined;
  for (let step = 0; step < o.maxNew && active.length > 0; step++) {
    const { data, vocab, release } = nextLogits(decoder, active.map((i) => seqs[i]!), active, parents);
    const still: number[] = [];
    parents = [];
    try {
      const scores = scoreRows(data, vocab, 1, processedMax(o, seqs[active[0]!]!.length));
      active.forEach((item, r) => {
        const raw = data.subarray(r * vocab, (r + 1) * vocab);
        // Processors act on the raw logits here, stored as float32 (Math.fround) like the logits.
        const processed = processedScores(o, vocab, seqs[item]!, step < o.minNew, (v) => raw[v]!, Math.fround);
        const top = new TopK(1);
        scores.offer(top, r, 0, 0, processed, true);
        const best = top.indices[0] ?? 0;
        logProbs[item] += raw[best]! - scores.lse(r);
        if (best === o.eos) return;
        seqs[item]!.push(best);
        still.push(item);
        parents!.push(r);
      });
    } finally {
      release();
    }
    active = still;
  }
  return seqs.map((s, i) => ({ tokens: s.slice(o.prefix.length), logProb: logProbs[i]!, score: logProbs[i]! }));
}

interface Beam {
  seq: number[];
  /** Index of the sequence it extends in the last decoder call's list (for a cached decoder). */
  parent: number;
  /** Cumulative processed log-prob: what the search ranks by. */
  score: number;
  /** Cumulative unprocessed log-prob. */
  logProb: number;
}

/** HF BeamHypotheses: the numBeams best finished sequences of one input. */
class Hypotheses {
  readonly list: { seq: number[]; score: number; logProb: number }[] = [];
  private worst = 1e9;

  constructor(
    private readonly numBeams: number,
    private readonly lengthPenalty: number,
  ) {}

  add(seq: number[], sumLogProbs: number, logProb: number): void {
    const score = sumLogProbs / seq.length ** this.lengthPenalty;
    if (this.list.length < this.numBeams || score > this.worst) {
      this.list.push({ seq, score, logProb });
      if (this.list.length > this.numBeams) {
        // Drop the worst (the earliest among equals, as HF's sorted (score, index) tuples do).
        const order = this.list.map((h, i) => [h.score, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        this.list.splice(order[0]![1], 1);
        this.worst = order[1]![0];
      } else {
        this.worst = Math.min(score, this.worst);
      }
    }
  }

  /** Nothing left can beat the worst kept hypothesis (HF's early_stopping=False rule). */
  isDone(bestSumLogProbs: number, curLen: number): boolean {
    if (this.list.length < this.numBeams) return false;
    return this.worst >= bestSumLogProbs / curLen ** this.lengthPenalty;
  }

  /** The best hypothesis; the last added among equals, as HF's sorted(...)[-1]. */
  best(): { seq: number[]; score: number; logProb: number } {
    let best = this.list[0]!;
    for (const h of this.list) if (h.score >= best.score) best = h;
    return best;
  }
}

/** Beam search with HF's BeamSearchScorer semantics (early_stopping=False, one sequence returned). */
export function beamSearch(decoder: Decoder, count: number, options: GenerateOptions): GeneratedSequence[] {
  const o = resolve(options);
  checkInt(count, 'count', 0);
  const nb = o.numBeams;
  // HF starts every input with numBeams copies of the prefix, all but the first at −1e9, so the first
  // step expands one beam; the copies keep its candidate ranking identical when vocab < 2·numBeams.
  const beams: Beam[][] = Array.from({ length: count }, () =>
    Array.from({ length: nb }, (_, j) => ({ seq: [...o.prefix], parent: -1, score: j === 0 ? 0 : -1e9, logProb: 0 })),
  );
  const hyps = Array.from({ length: count }, () => new Hypotheses(nb, o.lengthPenalty));
  const done = new Array<boolean>(count).fill(false);
  let active = beams.map((_, i) => i);
  for (let step = 0; step < o.maxNew && active.length > 0; step++) {
    const curLen = o.prefix.length + step;
    const seqs = active.flatMap((i) => beams[i]!.map((b) => b.seq));
    const rows = active.flatMap((i) => new Array<number>(nb).fill(i));
    const parents = step === 0 ? undefined : active.flatMap((i) => beams[i]!.map((b) => b.parent));
    const { data, vocab, release } = nextLogits(decoder, seqs, rows, parents);
    try {
      const scores = scoreRows(data, vocab, 2 * nb, processedMax(o, curLen));
      active.forEach((item, a) => {
        // The 2·numBeams best (beam, token) candidates by processed log-prob + beam score, ranked as
        // HF ranks the flattened [beams × vocab] scores; log-softmax rows are never written out.
        const top = new TopK(2 * nb);
        const rows: Float32Array[] = [];
        const lses: number[] = [];
        beams[item]!.forEach((beam, j) => {
          const r = a * nb + j;
          const row = data.subarray(r * vocab, (r + 1) * vocab);
          const lse = scores.lse(r);
          rows.push(row);
          lses.push(lse);
          const processed = processedScores(o, vocab, beam.seq, step < o.minNew, (v) => row[v]! - lse, (x) => x);
          scores.offer(top, r, beam.score, j * vocab, processed);
        });
        const next: Beam[] = [];
        for (let rank = 0; rank < top.values.length && next.length < nb; rank++) {
          const j = Math.floor(top.indices[rank]! / vocab);
          const token = top.indices[rank]! % vocab;
          const beam = beams[item]![j]!;
          const logProb = beam.logProb + (rows[j]![token]! - lses[j]!);
          if (token === o.eos) {
            // Only an EOS among the numBeams best candidates finishes a hypothesis.
            if (rank < nb) hyps[item]!.add(beam.seq, top.values[rank]!, logProb);
          } else {
            next.push({ seq: [...beam.seq, token], parent: a * nb + j, score: top.values[rank]!, logProb });
          }
        }
        beams[item] = next;
        done[item] = done[item]! || hyps[item]!.isDone(top.values[0]!, curLen);
      });
    } finally {
      release();
    }
    active = active.filter((i) => !done[i]);
  }
  // Inputs that ran out of length: their open beams compete with the finished hypotheses.
  for (const item of active) for (const b of beams[item]!) hyps[item]!.add(b.seq, b.score, b.logProb);
  return hyps.map((h) => {
    const best = h.best();
    return { tokens: best.seq.slice(o.prefix.length), logProb: best.logProb, score: best.score };
  });
}

/** Greedy search when numBeams is 1 (as HF), beam search otherwise. */
export function generate(decoder: Decoder, count: number, options: GenerateOptions): GeneratedSequence[] {
  return (options.numBeams ?? 3) === 1 ? greedySearch(decoder, count, options) : beamSearch(decoder, count, options);
}

/** BOS ([DEC]) and EOS ([SEP]) from a model's text config. */
export function specialTokens(config: Pick<TextConfig, 'bos_token_id' | 'sep_token_id'>): Pick<GenerateOptions, 'bosTokenId' | 'eosTokenId'> {
  return { bosTokenId: config.bos_token_id, eosTokenId: config.sep_token_id };
}

/**
 * A SequenceDecoder over a caption model with `imageEmbeds` [images, tokens, width] bound: each
 * sequence cross-attends to the image its row names (beams share their image's states).
 */
export function captionDecoder(model: Pick<CaptionModel, 'decode'>, imageEmbeds: tf.Tensor): SequenceDecoder {
  return (ids, mask, rows) => model.decode(ids, mask, tf.gather(imageEmbeds, rows)).logits;
}

export interface CaptionOptions extends Partial<GenerateOptions> {
  /**
   * Decode with a key/value cache (one token per step) rather than recomputing every prefix. Same
   * tokens and scores (to float rounding), faster. Default: true when the model exposes its textDecoder or a cachedDecoder of its own.
   */
  kvCache?: boolean;
}

/**
 * The decoder a generation runs: cached when asked and possible (then the caller disposes it): the
 * model's own cache (`own`: onnxruntime's graphs keep theirs in their worker), else one built over
 * its textDecoder.
 */
export function chooseDecoder(
  kvCache: boolean | undefined,
  full: () => SequenceDecoder,
  cached: { own?: () => CachedDecoder; textDecoder?: TextDecoder; over: (d: TextDecoder) => CachedDecoder },
  caller: string,
): Decoder {
  if (kvCache === false) return full();
  if (cached.own) return cached.own();
  if (cached.textDecoder) return cached.over(cached.textDecoder);
  if (kvCache) throw new Error(`${caller}: kvCache needs the model's textDecoder or a cached decoder of its own`);
  return full();
}

/**
 * Captions for a batch of images [B, 3, S, S]: BLIP's decoding from [DEC] (+ prompt). Token ids
 * come back without BOS, prompt and EOS; decode them with the tokenizer. BOS/EOS default to the
 * model config's when the model carries one.
 */
export function generateCaptions(model: CaptionModel & { config?: { text_config: TextConfig } }, pixelValues: tf.Tensor, options: CaptionOptions = {}): GeneratedSequence[] {
  const defaults = model.config ? specialTokens(model.config.text_config) : undefined;
  const bosTokenId = options.bosTokenId ?? defaults?.bosTokenId;
  const eosTokenId = options.eosTokenId ?? defaults?.eosTokenId;
  if (bosTokenId === undefined || eosTokenId === undefined) {
    throw new Error('generateCaptions: bosTokenId and eosTokenId are needed (the model has no config to take them from)');
  }
  const imageEmbeds = tf.tidy(() => model.encodeImage(pixelValues).lastHiddenState);
  const { kvCache, ...search } = options;
  const decoder = chooseDecoder(kvCache, () => captionDecoder(model, imageEmbeds), {
    own: model.cachedDecoder && (() => model.cachedDecoder!(imageEmbeds)),
    textDecoder: model.textDecoder,
    over: (d) => cachedDecoder(d, imageEmbeds),
  }, 'generateCaptions');
  try {
    return generate(decoder, pixelValues.shape[0]!, { ...search, bosTokenId, eosTokenId });
  } finally {
    if (typeof decoder !== 'function') decoder.dispose();
    imageEmbeds.dispose();
  }
}
