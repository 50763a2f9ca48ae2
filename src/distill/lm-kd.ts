// Token-level distillation of the caption decoder: KL(teacher ‖ student) at temperature T per predicted
// token, fused with the student's vocabulary projection and chunked like projectedCaptionLoss, so that
// neither model's [B, L, V] logits (V = 30,524) exist whole, forward or backward.
import { tf } from '../engine/backend.js';
import { linear } from '../engine/ops.js';
import { softCross, softCrossGrad } from '../engine/soft-target.js';
import type { SoftTarget } from '../engine/soft-target.js';
import { chunkedProjectionBackward, scoredPositions } from '../objectives/lm.js';
import { expectRank, expectTemperature, fmt, sameShape } from './checks.js';

/** A model's vocabulary projection with its inputs: logits = states·weightᵀ + bias. */
export interface ProjectedStates {
  /** [B, L, W] */
  states: tf.Tensor;
  /** [V, W] */
  weight: tf.Tensor;
  /** [V] */
  bias: tf.Tensor;
}

/** The teacher's k largest logits per position (at temperature 1), as a logit cache stores them. */
export interface TopKTeacher {
  /** [B, L, k] int32 vocabulary ids. */
  indices: tf.Tensor;
  /** [B, L, k] */
  logits: tf.Tensor;
  /** log Σ exp of all V logits [B, L]. */
  logSumExp: tf.Tensor;
}

export type LmTeacher = ProjectedStates | TopKTeacher;

/**
 * The teacher's distribution at T over one chunk of rows, and Σ p·log p per row [c] where the target
 * is sparse (a dense one's comes with the student's cross term). Called inside a tidy, forward and
 * again backward, so it allocates nothing that outlives one call.
 */
interface TeacherChunk {
  target: SoftTarget;
  negEntropy?: tf.Tensor;
}

/** p·log p from log p, with 0·log 0 = 0 (told by log p = −∞: see klFromLogProbs). */
function plogp(logProbs: tf.Tensor): tf.Tensor {
  const terms = tf.mul(tf.exp(logProbs), logProbs);
  return tf.where(tf.greater(logProbs, -Infinity), terms, tf.zerosLike(terms));
}

function checkProjection(x: ProjectedStates, who: string, batch: number, length: number, vocab: number): void {
  expectRank(x.states, 3, `lm KD: ${who} states [B, L, W]`);
  const width = x.states.shape[2]!;
  if (!sameShape(x.states.shape.slice(0, 2), [batch, length])) {
    throw new Error(`lm KD: ${who} states ${fmt(x.states.shape)} do not match the labels [${batch},${length}] in [B, L]`);
  }
  if (!sameShape(x.weight.shape, [vocab, width])) {
    throw new Error(`lm KD: ${who} projection weight ${fmt(x.weight.shape)} must be [V, W] = [${vocab},${width}] for states ${fmt(x.states.shape)}`);
  }
  if (!sameShape(x.bias.shape, [vocab])) throw new Error(`lm KD: ${who} projection bias ${fmt(x.bias.shape)} must be [${vocab}]`);
}

function checkTopK(x: TopKTeacher, batch: number, length: number, vocab: number): void {
  expectRank(x.indices, 3, 'lm KD: teacher top-k indices [B, L, k]');
  const [b, l, k] = x.indices.shape as [number, number, number];
  if (b !== batch || l !== length) throw new Error(`lm KD: teacher top-k indices ${fmt(x.indices.shape)} do not match the labels [${batch},${length}] in [B, L]`);
  if (x.indices.dtype !== 'int32') throw new Error(`lm KD: teacher top-k indices must be int32, got ${x.indices.dtype}`);
  if (k < 1 || k > vocab) throw new Error(`lm KD: teacher top-k indices ${fmt(x.indices.shape)}: k must be in 1..${vocab} (the vocabulary)`);
  if (!sameShape(x.logits.shape, x.indices.shape)) throw new Error(`lm KD: teacher top-k logits ${fmt(x.logits.shape)} must match its indices ${fmt(x.indices.shape)}`);
  if (!sameShape(x.logSumExp.shape, [batch, length])) throw new Error(`lm KD: teacher logSumExp ${fmt(x.logSumExp.shape)} must be [B, L] = [${batch},${length}]`);
}

/** The teacher's tensors in a fixed order, for customGrad to keep them alive until the backward pass. */
function tensorsOf(teacher: LmTeacher): tf.Tensor[] {
  return 'indices' in teacher ? [teacher.indices, teacher.logits, teacher.logSumExp] : [teacher.states, teacher.weight, teacher.bias];
}

/** The same kind of teacher as `like`, made of `tensors` (tensorsOf's order). */
function teacherFrom(like: LmTeacher, [a, b, c]: tf.Tensor[]): LmTeacher {
  return 'indices' in like ? { indices: a!, logits: b!, logSumExp: c! } : { states: a!, weight: b!, bias: c! };
}

/**
 * Exact teacher probabilities at T from its own projection: its logits are the dense target. Its
 * Σ p·log p is summed term by term as the student's Σ p·log q is, so that a model against itself
 * gives exactly 0.
 */
function projectedTeacher(teacher: ProjectedStates): (ids: tf.Tensor) => TeacherChunk {
  const width = teacher.states.shape[2]!;
  return (ids) => ({ target: { logits: linear(tf.gather(teacher.states.reshape([-1, width]), ids), teacher.weight, teacher.bias) } });
}

/**
 * Teacher probabilities at T from a top-k cache. The k cached tokens keep their exact probabilities
 * exp(logit − logSumExp); the rest of the mass, 1 − Σ top-k, is spread evenly over the other V − k
 * tokens (the cache does not know how it is really spread). At T ≠ 1 that tail is tempered as if those
 * V − k tokens had equal logits: p_T ∝ p^(1/T), renormalised. With k = V it is exactly the teacher.
 */
function topKTeacher(teacher: TopKTeacher, vocab: number, temperature: number): (ids: tf.Tensor) => TeacherChunk {
  const k = teacher.indices.shape[2]!;
  const tail = vocab - k;
  return (ids) => {
    const rows = ids.shape[0]!;
    const pick = (x: tf.Tensor, width: number) => tf.gather(x.reshape([-1, width]), ids);
    const top = tf.sub(pick(teacher.logits, k), pick(teacher.logSumExp, 1)); // log p at T = 1 [c, k]
    const topT = tf.div(top, temperature);
    const indices = pick(teacher.indices, k);
    if (tail === 0) {
      const logProbs = tf.sub(topT, tf.logSumExp(topT, -1, true));
      return { target: { ids: indices, probs: tf.exp(logProbs), tail: tf.zeros([rows]) }, negEntropy: tf.sum(plogp(logProbs), -1) };
    }
    // Rounding can make the cached mass exceed 1: the tail is then empty (log 0 = −∞, probability 0).
    const rest = tf.relu(tf.sub(1, tf.sum(tf.exp(top), -1, true)));
    const tailT = tf.div(tf.log(tf.div(rest, tail)), temperature); // [c, 1], per tail token
    const logZ = tf.logSumExp(tf.concat([topT, tf.add(tailT, Math.log(tail))], 1), -1, true);
    const logTop = tf.sub(topT, logZ);
    const logTail = tf.sub(tailT, logZ);
    const negEntropy = tf.add(tf.sum(plogp(logTop), -1), tf.mul(plogp(logTail).reshape([-1]), tail));
    return { target: { ids: indices, probs: tf.exp(logTop), tail: tf.exp(logTail).reshape([rows]) }, negEntropy };
  };
}

/**
 * Sequence weights for LM KD: Σ over sequences of weights[b] · (KL summed over its scored positions),
 * divided by `divisor`. VQA weighs its answer rows so: each question's distinct answers by their share
 * of the human answers, over the questions. A plain mean over positions would count a question once per
 * distinct answer, and questions with many (synonyms) would outweigh yes/no ones.
 */
export interface SequenceWeights {
  /** [B] one weight per labels row. */
  weights: ArrayLike<number>;
  divisor: number;
}

/** Each scored position's share of the loss: its sequence's weight over the divisor, or 1 / positions. */
function positionWeights(scored: Int32Array, length: number, by?: SequenceWeights): Float32Array {
  if (!by) return new Float32Array(scored.length).fill(1 / Math.max(scored.length, 1));
  if (!(by.divisor > 0)) throw new Error(`lm KD: the sequence weights' divisor must be positive, got ${by.divisor}`);
  return Float32Array.from(scored, (row) => by.weights[Math.floor(row / length)]! / by.divisor);
}

/**
 * KL(teacher ‖ student) at `temperature` times T², averaged over scored positions (or weighted per
 * sequence by `sequences`). The student's logits are linear(student.states, weight, bias); the teacher
 * is its own projection (computed outside the gradient tape: it gets no gradient) or a top-k cache. Only
 * scored rows are projected, `chunk` of them at a time, forward and backward; the gradient reaches the
 * student's states, weight and bias.
 */
export function projectedLmKd(student: ProjectedStates, teacher: LmTeacher, labels: tf.Tensor, temperature: number, chunk = 256, sequences?: SequenceWeights): tf.Scalar {
  expectTemperature(temperature, 'lm KD');
  if (!(Number.isInteger(chunk) && chunk > 0)) throw new Error(`lm KD: chunk must be a positive integer, got ${chunk}`);
  expectRank(labels, 2, 'lm KD: labels [B, L]');
  const [batch, length] = labels.shape as [number, number];
  const vocab = student.weight.shape[0]!;
  checkProjection(student, 'student', batch, length, vocab);
  if ('indices' in teacher) checkTopK(teacher, batch, length, vocab);
  else checkProjection(teacher, 'teacher', batch, length, vocab);

  const width = student.states.shape[2]!;
  const rows = batch * length;
  const scored = scoredPositions(labels); // captionLoss's shift
  if (sequences && sequences.weights.length !== batch) throw new Error(`lm KD: ${sequences.weights.length} sequence weights for labels of ${batch} rows`);
  const shares = positionWeights(scored, length, sequences);
  const spans: [number, number][] = [];
  for (let start = 0; start < scored.length; start += chunk) spans.push([start, Math.min(chunk, scored.length - start)]);
  const idsOf = ([start, size]: [number, number]) => tf.tensor1d(scored.subarray(start, start + size), 'int32');
  const sharesOf = ([start, size]: [number, number]) => tf.tensor1d(shares.subarray(start, start + size));
  const scale = temperature * temperature;
  const chunksOf = (t: LmTeacher) => ('indices' in t ? topKTeacher(t, vocab, temperature) : projectedTeacher(t));

  const f = tf.customGrad(((h: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const flat = h.reshape([rows, width]);
    // The teacher is saved too: tensors made inside a function given to tf.grads are gone by backward.
    save([flat, w, b, ...tensorsOf(teacher)]);
    const teacherOf = chunksOf(teacher);
    const total = tf.tidy(() => {
      const sums = spans.map((span) =>
        tf.tidy(() => {
          const ids = idsOf(span);
          const { target, negEntropy } = teacherOf(ids);
          const student = softCross(linear(tf.gather(flat, ids), w, b), target, temperature);
          return tf.sum(tf.mul(tf.sub(negEntropy ?? student.negEntropy, student.cross), sharesOf(span)));
        }),
      );
      return sums.length > 0 ? tf.mul(tf.addN(sums), scale) : tf.scalar(0);
    });
    return {
      value: total as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, sw, sb, ...st] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, ...tf.Tensor[]];
        const teacherOf = chunksOf(teacherFrom(teacher, st));
        // d(KL·T²)/d logits = T·(softmax(logits/T) − teacher probs), over the scored rows.
        const factor = tf.mul(dy, scale / temperature);
        const { dRows, dw, db } = chunkedProjectionBackward(spans, (span) => tf.gather(sh, idsOf(span)), sw, sb, (span, logits) =>
          softCrossGrad(logits, teacherOf(idsOf(span)).target, temperature, sharesOf(span).mul(factor)),
        );
        const dStates = tf.tidy(() =>
          dRows.length > 0
            ? tf.scatterND(tf.tensor2d(scored, [scored.length, 1], 'int32'), tf.concat(dRows, 0), [rows, width]).reshape([batch, length, width])
            : tf.zeros([batch, length, width]),
        );
        tf.dispose([...dRows, factor]);
        return [dStates, dw, db];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(student.states, student.weight, student.bias) as tf.Scalar;
}
