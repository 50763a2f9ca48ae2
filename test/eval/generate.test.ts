// Greedy and beam search against decoders whose next-token distributions are written by hand, plus
// a tiny real caption model for batching, teacher-forcing consistency and tensor leaks.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForConditionalGeneration } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { beamSearch, captionDecoder, generate, generateCaptions, greedySearch } from '../../src/eval/index.js';
import type { GenerateOptions, SequenceDecoder } from '../../src/eval/index.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

// Vocabulary of the hand-written decoders.
const PAD = 0, BOS = 1, EOS = 2, A = 3, B = 4, C = 5, D = 6, E = 7;
const VOCAB = 8;

/** A decoder whose last-position logits are `logits(seq, row)`; earlier positions are zeros. */
function logitDecoder(logits: (seq: number[], row: number) => ArrayLike<number>, calls: number[][] = []): SequenceDecoder {
  return (ids, _mask, rows) => {
    const seqs = ids.arraySync() as number[][];
    const rowIds = rows.arraySync() as number[];
    calls.push(rowIds);
    const length = seqs[0]!.length;
    const out = new Float32Array(seqs.length * length * VOCAB);
    seqs.forEach((seq, n) => out.set(logits(seq, rowIds[n]!), (n * length + length - 1) * VOCAB));
    return tf.tensor3d(out, [seqs.length, length, VOCAB]);
  };
}

/** Logits from a partial table of probabilities: unlisted tokens share what is left equally. */
function logProbs(given: Record<number, number>): Float32Array {
  const listed = Object.keys(given).length;
  const rest = (1 - Object.values(given).reduce((s, p) => s + p, 0)) / (VOCAB - listed);
  return Float32Array.from({ length: VOCAB }, (_, v) => Math.log(given[v] ?? rest));
}

/** A decoder whose next-token distribution is `probs(seq, row)` (see logProbs). */
function tableDecoder(probs: (seq: number[], row: number) => Record<number, number>, calls: number[][] = []): SequenceDecoder {
  return logitDecoder((seq, row) => logProbs(probs(seq, row)), calls);
}

/** A deterministic pseudo-random distribution of the sequence and row, EOS likelier as it grows. */
function scrambled(seq: number[], row: number): Record<number, number> {
  let h = 2166136261 ^ row;
  for (const t of seq) h = Math.imul(h ^ t, 16777619);
  const raw = Array.from({ length: VOCAB }, (_, v) => ((Math.imul(h ^ (v * 2654435761), 2246822519) >>> 0) % 1000) / 1000 + 0.05);
  raw[EOS] = raw[EOS]! * seq.length * 0.5;
  const total = raw.reduce((s, x) => s + x, 0);
  return Object.fromEntries(raw.map((x, v) => [v, x / total]));
}

const base: GenerateOptions = { bosTokenId: BOS, eosTokenId: EOS, minLength: 0, maxLength: 6, lengthIncludesPrefix: false };

/** Sum of log-probs of `tokens` then EOS under a table. */
function sequenceLogProb(probs: (seq: number[]) => Record<number, number>, prefix: number[], tokens: number[]): number {
  let seq = [...prefix];
  let total = 0;
  for (const t of [...tokens, EOS]) {
    total += logProbs(probs(seq))[t]!;
    seq = [...seq, t];
  }
  return total;
}

describe('greedy and beam search on hand-written distributions', () => {
  it('beam search with one beam equals greedy search', () => {
    for (const prompt of [[], [D, E]]) {
      const options = { ...base, prompt, maxLength: 7 };
      const greedy = greedySearch(tableDecoder(scrambled), 4, options);
      const beam = beamSearch(tableDecoder(scrambled), 4, { ...options, numBeams: 1 });
      assert.deepEqual(beam.map((s) => s.tokens), greedy.map((s) => s.tokens));
      beam.forEach((s, i) => assert.ok(Math.abs(s.logProb - greedy[i]!.logProb) < 1e-9));
      // The rows really differ, so the comparison is not one sequence four times.
      assert.ok(new Set(greedy.map((s) => s.tokens.join())).size > 1);
      assert.ok(greedy.some((s) => s.tokens.length < 7), 'some sequence should end with EOS');
    }
  });

  it('beam search finds the sequence of higher total log-probability that greedy misses', () => {
    const probs = (seq: number[]): Record<number, number> => {
      const g = seq.slice(1);
      if (g.length === 0) return { [A]: 0.5, [B]: 0.4 };
      if (g.length === 1 && g[0] === A) return { [C]: 0.34, [D]: 0.33, [E]: 0.32 };
      if (g.length === 1 && g[0] === B) return { [EOS]: 0.95 };
      return { [EOS]: 0.99 };
    };
    const greedy = greedySearch(tableDecoder(probs), 1, base)[0]!;
    const beam = beamSearch(tableDecoder(probs), 1, { ...base, numBeams: 2 })[0]!;
    assert.deepEqual(greedy.tokens, [A, C]);
    assert.deepEqual(beam.tokens, [B]);
    assert.ok(Math.abs(greedy.logProb - sequenceLogProb(probs, [BOS], [A, C])) < 1e-6);
    assert.ok(Math.abs(beam.logProb - Math.log(0.4 * 0.95)) < 1e-6);
    assert.ok(beam.logProb > greedy.logProb);
    // HF's hypothesis score: sum of log-probs over the length of [BOS, B].
    assert.ok(Math.abs(beam.score - Math.log(0.4 * 0.95) / 2) < 1e-6);
  });

  it('normalises hypotheses by length as HF does (length_penalty 1), and not at all with 0', () => {
    // [B] EOS: log(.5·.74) = −0.994 over length 2 → −0.497.
    // [A, C] EOS: log(.4·.9·.9) = −1.127 over length 3 → −0.376: better per token, worse in total.
    const probs = (seq: number[]): Record<number, number> => {
      const g = seq.slice(1).join();
      if (g === '') return { [B]: 0.5, [A]: 0.4 };
      if (g === `${B}`) return { [EOS]: 0.74 };
      if (g === `${A}`) return { [C]: 0.9 };
      if (g === `${A},${C}`) return { [EOS]: 0.9 };
      return { [EOS]: 0.3 };
    };
    assert.deepEqual(greedySearch(tableDecoder(probs), 1, base)[0]!.tokens, [B]);
    const normalised = beamSearch(tableDecoder(probs), 1, { ...base, numBeams: 2 })[0]!;
    assert.deepEqual(normalised.tokens, [A, C]);
    assert.ok(Math.abs(normalised.score - Math.log(0.4 * 0.9 * 0.9) / 3) < 1e-6);
    assert.deepEqual(beamSearch(tableDecoder(probs), 1, { ...base, numBeams: 2, lengthPenalty: 0 })[0]!.tokens, [B]);
  });

  it('blocks EOS until the minimum length, counted after the prompt or over the whole sequence', () => {
    const eager = (): Record<number, number> => ({ [EOS]: 0.9, [C]: 0.05 });
    for (const numBeams of [1, 3]) {
      const none = generate(tableDecoder(eager), 2, { ...base, numBeams });
      assert.deepEqual(none.map((s) => s.tokens), [[], []]);
      const three = generate(tableDecoder(eager), 2, { ...base, numBeams, minLength: 3 });
      assert.deepEqual(three.map((s) => s.tokens), [[C, C, C], [C, C, C]]);
      // BOS + 2 prompt tokens count toward a whole-sequence minimum of 5: two generated tokens.
      const whole = generate(tableDecoder(eager), 1, { ...base, numBeams, prompt: [D, E], minLength: 5, lengthIncludesPrefix: true });
      assert.deepEqual(whole[0]!.tokens, [C, C]);
    }
  });

  it('stops at the maximum length, counted after the prompt or over the whole sequence', () => {
    const never = (seq: number[]): Record<number, number> => ({ [EOS]: 1e-6, [seq.length % 2 ? C : D]: 0.6 });
    for (const numBeams of [1, 3]) {
      const four = generate(tableDecoder(never), 2, { ...base, numBeams, maxLength: 4 });
      assert.deepEqual(four.map((s) => s.tokens), [[C, D, C, D], [C, D, C, D]]);
      const whole = generate(tableDecoder(never), 1, { ...base, numBeams, prompt: [E], maxLength: 5, lengthIncludesPrefix: true });
      assert.deepEqual(whole[0]!.tokens, [D, C, D]);
      // BLIP's semantics are the default: the prefix counts.
      const byDefault = generate(tableDecoder(never), 1, { bosTokenId: BOS, eosTokenId: EOS, minLength: 0, numBeams, prompt: [E], maxLength: 5 });
      assert.deepEqual(byDefault[0]!.tokens, [D, C, D]);
    }
    assert.throws(() => generate(tableDecoder(never), 1, { ...base, prompt: [E], maxLength: 2, lengthIncludesPrefix: true }), /leaves no token/);
  });

  it('applies the repetition penalty to tokens already in the sequence, prompt included, by sign', () => {
    // After [A], greedy compares raw logits. Positive: A 2.0 vs B 1.5 → A; penalised 2.0/1.5 < 1.5 → B.
    // Negative: A −1.0 vs B −1.2 → A; penalised −1.0·1.5 < −1.2 → B.
    const logits = (high: number, low: number, other: number) => (seq: number[]) => {
      const z = new Float32Array(VOCAB).fill(other);
      if (seq.length === 1) z[A] = 10;
      else [z[A], z[B]] = [high, low];
      return z;
    };
    for (const [high, low, other] of [[2.0, 1.5, 0], [-1.0, -1.2, -5]] as const) {
      const options = { ...base, maxLength: 2 };
      assert.deepEqual(greedySearch(logitDecoder(logits(high, low, other)), 1, options)[0]!.tokens, [A, A]);
      assert.deepEqual(greedySearch(logitDecoder(logits(high, low, other)), 1, { ...options, repetitionPenalty: 1.5 })[0]!.tokens, [A, B]);
    }
    // Prompt tokens count as already generated (HF penalises all of input_ids).
    const flat = (): Record<number, number> => ({ [A]: 0.3, [B]: 0.25 });
    assert.deepEqual(greedySearch(tableDecoder(flat), 1, { ...base, maxLength: 1, prompt: [A] })[0]!.tokens, [A]);
    assert.deepEqual(greedySearch(tableDecoder(flat), 1, { ...base, maxLength: 1, prompt: [A], repetitionPenalty: 1.5 })[0]!.tokens, [B]);
    // Beam search penalises log-probabilities (all negative, so multiplied): log .3·1.5 < log .25.
    assert.deepEqual(beamSearch(tableDecoder(flat), 1, { ...base, numBeams: 2, maxLength: 1, prompt: [A], repetitionPenalty: 1.5 })[0]!.tokens, [B]);
  });

  it('batches every beam of every input in one call and drops finished inputs', () => {
    // Input 0 must end after one token; inputs 1 and 2 run on.
    const probs = (seq: number[], row: number): Record<number, number> =>
      row === 0 && seq.length >= 2 ? { [EOS]: 0.99 } : { [EOS]: 0.001, [C]: 0.5 };
    const calls: number[][] = [];
    const out = beamSearch(tableDecoder(probs, calls), 3, { ...base, numBeams: 3, maxLength: 4 });
    assert.equal(out[0]!.tokens.length, 1);
    assert.equal(out[1]!.tokens.length, 4);
    assert.equal(calls.length, 4);
    assert.deepEqual(calls[0], [0, 0, 0, 1, 1, 1, 2, 2, 2]);
    assert.deepEqual(calls[3], [1, 1, 1, 2, 2, 2]);
  });

  it('rejects bad options readably', () => {
    const dec = tableDecoder(scrambled);
    assert.throws(() => generate(dec, 1, { ...base, numBeams: 0 }), /numBeams must be an integer ≥ 1/);
    assert.throws(() => generate(dec, 1, { ...base, maxLength: 0 }), /maxLength/);
    assert.throws(() => generate(dec, 1, { ...base, repetitionPenalty: 0 }), /repetitionPenalty/);
    const wrong: SequenceDecoder = (ids) => tf.zeros([ids.shape[0] + 1, VOCAB]);
    assert.throws(() => generate(wrong, 1, base), /decoder returned shape/);
  });

  it('leaks no tensors', () => {
    const before = tf.memory().numTensors;
    beamSearch(tableDecoder(scrambled), 3, { ...base, numBeams: 3 });
    greedySearch(tableDecoder(scrambled), 3, base);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('generation with a tiny caption model', () => {
  const config = tinyConfig();
  const model = createModel(config, 'BlipForConditionalGeneration') as BlipForConditionalGeneration;
  initParameters(model, 11);
  const pixels = () => tf.randomNormal([3, 3, 8, 8], 0, 1, 'float32', 5);
  const options = { bosTokenId: 1, eosTokenId: 2, prompt: [7, 9], maxLength: 6, minLength: 2, lengthIncludesPrefix: false };

  it('beam 1 equals greedy; beam 3 keeps the lengths; results do not depend on the batch', () => {
    const px = pixels();
    const greedy = generateCaptions(model, px, { ...options, numBeams: 1 });
    const embeds = tf.tidy(() => model.encodeImage(px).lastHiddenState);
    const beam1 = beamSearch(captionDecoder(model, embeds), 3, { ...options, numBeams: 1 });
    assert.deepEqual(beam1.map((s) => s.tokens), greedy.map((s) => s.tokens));
    const beam3 = generateCaptions(model, px, { ...options, numBeams: 3 });
    beam3.forEach((s) => {
      assert.ok(s.tokens.length >= 2 && s.tokens.length <= 6);
      assert.ok(!s.tokens.includes(2));
      // The HF score of the chosen hypothesis: its log-prob over its length with BOS and prompt.
      assert.ok(Math.abs(s.score - s.logProb / (3 + s.tokens.length)) < 1e-6);
    });
    // One image at a time gives the same captions as the batch of three.
    for (let i = 0; i < 3; i++) {
      const one = tf.tidy(() => px.slice(i, 1));
      assert.deepEqual(generateCaptions(model, one, { ...options, numBeams: 3 })[0]!.tokens, beam3[i]!.tokens);
      one.dispose();
    }
    tf.dispose([px, embeds]);
  });

  it('reports the log-probability a teacher-forced pass gives the same tokens', () => {
    const px = pixels();
    const [caption] = generateCaptions(model, px.slice(0, 1), { ...options, numBeams: 1 });
    const seq = [1, 7, 9, ...caption!.tokens];
    const ended = caption!.tokens.length < options.maxLength;
    const target = ended ? [...seq.slice(1), 2] : seq.slice(1);
    const input = ended ? seq : seq.slice(0, -1);
    const expected = tf.tidy(() => {
      const ids = tf.tensor2d([input], [1, input.length], 'int32');
      const embeds = model.encodeImage(px.slice(0, 1)).lastHiddenState;
      const logp = tf.logSoftmax(model.decode(ids, tf.onesLike(ids), embeds).logits.squeeze([0])).arraySync() as number[][];
      // Only the generated positions (after the prompt) count.
      return tf.scalar(target.slice(2).reduce((s, t, j) => s + logp[j + 2]![t]!, 0));
    });
    assert.ok(Math.abs(expected.dataSync()[0]! - caption!.logProb) < 1e-4, `${expected.dataSync()[0]} vs ${caption!.logProb}`);
    tf.dispose([px, expected]);
  });

  it('leaks no tensors and needs BOS/EOS when the config cannot give usable ones', () => {
    const px = pixels();
    const before = tf.memory().numTensors;
    generateCaptions(model, px, { ...options, numBeams: 3 });
    generateCaptions(model, px, { ...options, numBeams: 1 });
    assert.equal(tf.memory().numTensors, before);
    px.dispose();
    const bare = { encodeImage: model.encodeImage.bind(model), decode: model.decode.bind(model) };
    assert.throws(() => generateCaptions(bare, tf.zeros([1, 3, 8, 8])), /bosTokenId and eosTokenId/);
  });
});

void PAD;
