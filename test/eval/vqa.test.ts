// BLIP's rank_answer against a decoder with hand-written distributions (so every score is known in
// closed form) and against brute force on a tiny real VQA model.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForQuestionAnswering } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { generateVqaAnswers, rankAnswers, rankVqaAnswers } from '../../src/eval/index.js';
import type { SequenceDecoder } from '../../src/eval/index.js';
import { tinyConfig } from '../helpers/tiny.js';

before(async () => {
  await initBackend('cpu');
});

const BOS = 1, EOS = 2, A = 3, B = 4, C = 5, D = 6, E = 7;
const VOCAB = 8;

type Table = (prefix: number[], row: number) => Record<number, number>;

function logProbs(given: Record<number, number>): number[] {
  const rest = (1 - Object.values(given).reduce((s, p) => s + p, 0)) / (VOCAB - Object.keys(given).length);
  return Array.from({ length: VOCAB }, (_, v) => Math.log(given[v] ?? rest));
}

/** Logits at every position t = log of the table's distribution after the tokens up to t. */
function tableDecoder(table: Table, calls: number[] = []): SequenceDecoder {
  return (ids, _mask, rows) => {
    const seqs = ids.arraySync() as number[][];
    const rowIds = rows.arraySync() as number[];
    calls.push(seqs.length);
    const out = seqs.map((seq, n) => seq.map((_, t) => logProbs(table(seq.slice(0, t + 1), rowIds[n]!))));
    return tf.tensor3d(out);
  };
}

// Question 0: A is the likeliest first token, but "B C" is the likeliest answer.
// Question 1: E dominates.
const table: Table = (prefix, row): Record<number, number> => {
  const g = prefix.slice(1).join();
  if (row === 1) return g === '' ? { [E]: 0.7, [A]: 0.1 } : { [EOS]: 0.9 };
  if (g === '') return { [A]: 0.4, [B]: 0.35, [E]: 0.2 };
  if (g === `${A}`) return { [EOS]: 0.3 };
  if (g === `${B}`) return { [C]: 0.9, [D]: 0.05 };
  if (g === `${B},${C}` || g === `${B},${D}`) return { [EOS]: 0.9 };
  if (g === `${E}`) return { [EOS]: 0.95 };
  return { [EOS]: 0.5 };
};
const answers = [[A], [B, C], [B, D], [E]];
const tokens = { bosTokenId: BOS, eosTokenId: EOS };

/** BLIP's score: Σ over answer tokens and EOS of (1 − ε)·log p(y) + ε·mean log p. */
function expectedScore(answer: number[], row: number, eps: number): number {
  const seq = [BOS, ...answer, EOS];
  let total = 0;
  for (let t = 1; t < seq.length; t++) {
    const lp = logProbs(table(seq.slice(0, t), row));
    total += (1 - eps) * lp[seq[t]!]! + (eps * lp.reduce((s, x) => s + x, 0)) / VOCAB;
  }
  return total;
}

describe('rankAnswers on hand-written distributions', () => {
  it('picks the candidate of highest likelihood among the top k by first-token probability', () => {
    const [q0, q1] = rankAnswers(tableDecoder(table), 2, answers, { ...tokens, labelSmoothing: 0 });
    assert.equal(q0!.index, 1);
    assert.ok(Math.abs(q0!.score - Math.log(0.35 * 0.9 * 0.9)) < 1e-5);
    // All four were rescored (k = 128 capped at 4), in first-token order; B's tie keeps list order.
    assert.deepEqual(q0!.candidates.map((c) => c.index), [0, 1, 2, 3]);
    assert.ok(Math.abs(q0!.candidates[0]!.firstTokenProb - 0.4) < 1e-6);
    // "A" alone: log .4 + log .3 — its padding in the batch with longer answers is not scored.
    assert.ok(Math.abs(q0!.candidates[0]!.score - Math.log(0.4 * 0.3)) < 1e-5);
    assert.equal(q1!.index, 3);
  });

  it('with k = 1 takes the answer whose first token is likeliest; k = 2 already finds "B C"', () => {
    const one = rankAnswers(tableDecoder(table), 1, answers, { ...tokens, k: 1, labelSmoothing: 0 })[0]!;
    assert.equal(one.index, 0);
    assert.equal(one.candidates.length, 1);
    assert.equal(rankAnswers(tableDecoder(table), 1, answers, { ...tokens, k: 2, labelSmoothing: 0 })[0]!.index, 1);
  });

  it("scores with BLIP's label-smoothed loss by default, and can add log p(first token) as ALBEF", () => {
    const [q0] = rankAnswers(tableDecoder(table), 1, answers, tokens);
    q0!.candidates.forEach((c) => assert.ok(Math.abs(c.score - expectedScore(answers[c.index]!, 0, 0.1)) < 1e-4, `candidate ${c.index}`));
    const albef = rankAnswers(tableDecoder(table), 1, answers, { ...tokens, labelSmoothing: 0, addFirstTokenLogProb: true })[0]!;
    albef.candidates.forEach((c) => {
      const plain = expectedScore(answers[c.index]!, 0, 0);
      assert.ok(Math.abs(c.score - (plain + Math.log(c.firstTokenProb))) < 1e-4);
    });
  });

  it('gives the same result whatever the batch size, in as many forwards as batches', () => {
    const full = rankAnswers(tableDecoder(table), 2, answers, tokens);
    for (const batchSize of [1, 3]) {
      const calls: number[] = [];
      const batched = rankAnswers(tableDecoder(table, calls), 2, answers, { ...tokens, batchSize });
      assert.deepEqual(batched.map((r) => r.index), full.map((r) => r.index));
      batched.forEach((r, q) => r.candidates.forEach((c, j) => assert.ok(Math.abs(c.score - full[q]!.candidates[j]!.score) < 1e-5)));
      // One first-token pass for all questions, then ⌈8 pairs / batchSize⌉ scoring passes.
      assert.deepEqual(calls, [2, ...Array.from({ length: Math.ceil(8 / batchSize) }, (_, i) => Math.min(batchSize, 8 - i * batchSize))]);
    }
  });

  it('rejects bad input readably and leaks no tensors', () => {
    const dec = tableDecoder(table);
    assert.throws(() => rankAnswers(dec, 1, [], tokens), /candidate answer list is empty/);
    assert.throws(() => rankAnswers(dec, 1, [[A], []], tokens), /candidate answer 1 has no tokens/);
    assert.throws(() => rankAnswers(dec, 1, answers, { ...tokens, k: 0 }), /k must be a positive integer/);
    assert.throws(() => rankAnswers(dec, 1, answers, { ...tokens, k: -3 }), /k must be a positive integer/);
    assert.throws(() => rankAnswers(dec, 1, [[A], [VOCAB + 2]], tokens), /outside the vocabulary/);
    const before = tf.memory().numTensors;
    rankAnswers(dec, 2, answers, { ...tokens, batchSize: 3 });
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('VQA with a tiny model', () => {
  const model = createModel(tinyConfig(), 'BlipForQuestionAnswering') as BlipForQuestionAnswering;
  initParameters(model, 6);
  // Larger output weights separate the candidates; seed 6 makes first-token and full rankings differ.
  const proj = model.textDecoder.cls.predictions.decoder.weight;
  proj.assign(Float32Array.from(proj.value.dataSync(), (v) => v * 10));
  const inputs = () => ({
    pixels: tf.randomNormal([2, 3, 8, 8], 0, 1, 'float32', 3),
    ids: tf.tensor2d([[1, 4, 7, 9, 2], [1, 5, 3, 2, 0]], [2, 5], 'int32'),
    mask: tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], [2, 5], 'int32'),
  });
  const candidates = [[3], [4, 5], [6], [7, 8, 9], [10], [11, 3]];
  const opts = { bosTokenId: 1, eosTokenId: 2, labelSmoothing: 0 };

  /** Each (question, candidate) scored alone: first-token probs and sequence log-likelihoods. */
  function bruteForce(pixels: tf.Tensor, ids: tf.Tensor, mask: tf.Tensor) {
    return tf.tidy(() => {
      const states = model.encodeQuestion(ids, mask, model.encodeImage(pixels).lastHiddenState).lastHiddenState;
      return [0, 1].map((q) => {
        const s = states.slice(q, 1);
        const m = mask.slice(q, 1);
        const bos = tf.tensor2d([[1]], [1, 1], 'int32');
        const first = tf.softmax(model.decodeAnswer(bos, tf.onesLike(bos), s, m).logits.reshape([-1])).arraySync() as number[];
        const scores = candidates.map((a) => {
          const seq = [1, ...a, 2];
          const x = tf.tensor2d([seq], [1, seq.length], 'int32');
          const lp = tf.logSoftmax(model.decodeAnswer(x, tf.onesLike(x), s, m).logits.squeeze([0])).arraySync() as number[][];
          return seq.slice(1).reduce((sum, t, j) => sum + lp[j]![t]!, 0);
        });
        return { first: candidates.map((a) => first[a[0]!]!), scores };
      });
    });
  }

  it('ranks as scoring every candidate alone does, for k = all and k = 1', () => {
    const { pixels, ids, mask } = inputs();
    const expected = bruteForce(pixels, ids, mask);
    const ranked = rankVqaAnswers(model, pixels, ids, mask, candidates, { ...opts, batchSize: 5 });
    const one = rankVqaAnswers(model, pixels, ids, mask, candidates, { ...opts, k: 1 });
    const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
    expected.forEach((e, q) => {
      assert.equal(ranked[q]!.index, argmax(e.scores));
      for (const c of ranked[q]!.candidates) {
        assert.ok(Math.abs(c.score - e.scores[c.index]!) < 1e-4, `q${q} candidate ${c.index}: ${c.score} vs ${e.scores[c.index]}`);
        assert.ok(Math.abs(c.firstTokenProb - e.first[c.index]!) < 1e-5);
      }
      assert.equal(one[q]!.index, argmax(e.first));
    });
    // The test means something only if first-token and full rankings disagree somewhere.
    assert.ok(expected.some((e) => argmax(e.scores) !== argmax(e.first)), 'pick weights where k matters');
    tf.dispose([pixels, ids, mask]);
  });

  it('generates open-ended answers within BLIP\'s length and leaks no tensors', () => {
    const { pixels, ids, mask } = inputs();
    const before = tf.memory().numTensors;
    const generated = generateVqaAnswers(model, pixels, ids, mask, { bosTokenId: 1, eosTokenId: 2 });
    rankVqaAnswers(model, pixels, ids, mask, candidates, opts);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(generated.length, 2);
    for (const g of generated) assert.ok(g.tokens.length <= 9 && !g.tokens.includes(2));
    // With EOS blocked throughout, the answer runs to BLIP's limit: 9 tokens after [DEC].
    const longest = generateVqaAnswers(model, pixels, ids, mask, { bosTokenId: 1, eosTokenId: 2, minLength: 10 });
    for (const g of longest) assert.equal(g.tokens.length, 9);
    tf.dispose([pixels, ids, mask]);
  });
});
