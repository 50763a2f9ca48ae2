// Language-modelling loss of BLIP's decoder: next-token cross-entropy with label smoothing.
import { tf } from '../engine/backend.js';
import { gatherRows, linear, matmul } from '../engine/ops.js';
import { softCross, softCrossGrad } from '../engine/soft-target.js';
import type { SoftTarget } from '../engine/soft-target.js';

/** Label id that marks a position as ignored (padding), as PyTorch's ignore_index. */
export const IGNORE_INDEX = -100;

/**
 * Flat ids (b·L + t) of the positions [B, L] `labels` score, in order: position t predicts label t+1,
 * and counts when t+1 exists and is not IGNORE_INDEX.
 */
export function scoredPositions(labels: tf.Tensor): Int32Array {
  const [batch, length] = labels.shape as [number, number];
  const raw = labels.dataSync();
  const rows: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t + 1 < length; t++) if (Number(raw[b * length + t + 1]) !== IGNORE_INDEX) rows.push(b * length + t);
  }
  return Int32Array.from(rows);
}

/** Next-token targets of each position: labels shifted left, IGNORE_INDEX where nothing follows. */
function shiftedTargets(labels: tf.Tensor, vocab: number): Int32Array {
  const length = labels.shape[1]!;
  const raw = labels.dataSync();
  const targets = new Int32Array(labels.size).fill(IGNORE_INDEX);
  for (const row of scoredPositions(labels)) {
    const next = Number(raw[row + 1]);
    if (next < 0 || next >= vocab) throw new Error(`label ${next} at [${Math.floor(row / length)}, ${(row % length) + 1}] is outside the vocabulary of ${vocab}`);
    targets[row] = next;
  }
  return targets;
}

/**
 * The backward pass of logits = linear(rows, w, b) chunk by chunk, so that one chunk's logits and
 * their gradient are alive at a time: `rowsOf(c)` gives chunk c's rows [c, W] and `dLogitsOf(c,
 * logits)` the loss's gradient with respect to their logits [c, V]. Returns the rows' gradient per
 * chunk (in `chunks`' order) and the gradients of `w` and `b`, summed over the chunks.
 */
export function chunkedProjectionBackward<C>(
  chunks: readonly C[],
  rowsOf: (chunk: C) => tf.Tensor,
  w: tf.Tensor,
  b: tf.Tensor,
  dLogitsOf: (chunk: C, logits: tf.Tensor) => tf.Tensor,
): { dRows: tf.Tensor[]; dw: tf.Tensor; db: tf.Tensor } {
  const dRows: tf.Tensor[] = [];
  let dw = tf.zerosLike(w);
  let db = tf.zerosLike(b);
  for (const chunk of chunks) {
    const [dh, nextW, nextB] = tf.tidy(() => {
      const rows = rowsOf(chunk);
      const dLogits = dLogitsOf(chunk, linear(rows, w, b));
      return [matmul(dLogits, w), tf.add(dw, matmul(dLogits, rows, true, false)), tf.add(db, tf.sum(dLogits, 0))];
    });
    dRows.push(dh!);
    dw.dispose();
    db.dispose();
    dw = nextW!;
    db = nextB!;
  }
  return { dRows, dw, db };
}

/**
 * Per-position smoothed cross-entropy [B, T] of logits[:, t] predicting labels[:, t+1] — (1 − ε)·NLL
 * + ε·mean over classes of −log p, as torch's CrossEntropyLoss — and the mask of counted positions.
 * The shift happens on the (small) labels, never on the [B, T, vocab] logits, and the picked log-prob
 * is gathered rather than multiplied by a one-hot matrix: both keep the backward pass vocab-cheap.
 */
function smoothedTokenLoss(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing: number): { perToken: tf.Tensor; valid: tf.Tensor } {
  const [batch, length, vocab] = logits.shape as [number, number, number];
  const next = shiftedTargets(labels, vocab);
  const valid = Float32Array.from(next, (t) => (t === IGNORE_INDEX ? 0 : 1));
  const flat = Int32Array.from(next, (t, i) => i * vocab + Math.max(t, 0));
  const logProbs = tf.logSoftmax(logits.reshape([batch * length, vocab]));
  const picked = gatherRows(logProbs.reshape([batch * length * vocab, 1]), tf.tensor1d(flat, 'int32')).reshape([batch, length]);
  const smooth = tf.mean(logProbs, -1).reshape([batch, length]);
  const perToken = tf.neg(tf.add(tf.mul(picked, 1 - labelSmoothing), tf.mul(smooth, labelSmoothing)));
  return { perToken, valid: tf.tensor2d(valid, [batch, length]) };
}

/** Mean smoothed cross-entropy over the counted (non-IGNORE_INDEX) next-token positions. */
export function captionLoss(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing = 0.1): tf.Scalar {
  return tf.tidy(() => {
    const { perToken, valid } = smoothedTokenLoss(logits, labels, labelSmoothing);
    return tf.div(tf.sum(tf.mul(perToken, valid)), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
  });
}

/** Per-sequence sums of the smoothed cross-entropy [B] (BLIP's reduction='none' for VQA answers). */
export function sequenceLoss(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing = 0.1): tf.Tensor1D {
  return tf.tidy(() => {
    const { perToken, valid } = smoothedTokenLoss(logits, labels, labelSmoothing);
    return tf.sum(tf.mul(perToken, valid), -1) as tf.Tensor1D;
  });
}

/**
 * captionLoss of `linear(states, weight, bias)` without ever holding the [B·T, vocab] logits or their
 * gradient: the projection, log-softmax and smoothed cross-entropy run over `chunk` rows at a time,
 * forward and backward (a fused linear + cross-entropy). With BERT's 30,524-word vocabulary the logits
 * dominate a small model's memory and time; this keeps them to one chunk.
 */
export function projectedCaptionLoss(
  states: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor,
  labels: tf.Tensor,
  labelSmoothing = 0.1,
  chunk = 256,
): tf.Scalar {
  const [batch, length, width] = states.shape as [number, number, number];
  const vocab = weight.shape[0]!;
  const next = shiftedTargets(labels, vocab);
  const rows = batch * length;
  const counted = next.reduce((n, t) => n + (t === IGNORE_INDEX ? 0 : 1), 0);
  const scale = 1 / Math.max(counted, 1);
  const spans: [number, number][] = [];
  for (let start = 0; start < rows; start += chunk) spans.push([start, Math.min(chunk, rows - start)]);
  // Label smoothing as a sparse soft target: ε/V on every class, 1 − ε + ε/V on the label.
  const tail = labelSmoothing / vocab;
  const chunkTargets = ([start, size]: [number, number]) => {
    const t = next.subarray(start, start + size);
    const target: SoftTarget = {
      ids: tf.tensor2d(Int32Array.from(t, (x) => Math.max(x, 0)), [size, 1], 'int32'),
      probs: tf.fill([size, 1], 1 - labelSmoothing + tail),
      tail: tf.fill([size], tail),
    };
    return { valid: tf.tensor1d(Float32Array.from(t, (x) => (x === IGNORE_INDEX ? 0 : 1))), target };
  };
  const f = tf.customGrad(((h: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const flat = h.reshape([rows, width]);
    save([flat, w, b]);
    const total = tf.tidy(() =>
      tf.addN(
        spans.map((span) =>
          tf.tidy(() => {
            const logits = linear(flat.slice([span[0], 0], [span[1], width]), w, b);
            const { valid, target } = chunkTargets(span);
            return tf.neg(tf.sum(tf.mul(softCross(logits, target, 1).cross, valid)));
          }),
        ),
      ).mul(scale),
    );
    return {
      value: total as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, sw, sb] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const factor = tf.mul(dy, scale);
        // d loss / d logits = softmax − (1 − ε)·onehot − ε/V on counted rows.
        const { dRows, dw, db } = chunkedProjectionBackward(spans, ([start, size]) => sh.slice([start, 0], [size, width]), sw, sb, (span, logits) => {
          const { valid, target } = chunkTargets(span);
          return softCrossGrad(logits, target, 1, tf.mul(valid, factor));
        });
        const dStates = tf.concat(dRows, 0).reshape([batch, length, width]);
        tf.dispose([...dRows, factor]);
        return [dStates, dw, db];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(states, weight, bias) as tf.Scalar;
}
