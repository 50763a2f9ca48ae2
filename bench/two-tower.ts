// One training step (forward + backward + AdamW) of a small two-tower contrastive model, the same
// model, shapes and init as bench/two_tower.py. Prints one JSON line. Run through bench/run.ts.
//   node dist/bench/two-tower.js [--backend native|wasm|cpu] [--steps 10] [--warmup 2]
import { AdamW } from '../src/train/optimizer.js';
import { tf, initBackend, activeBackend } from '../src/engine/backend.js';
import { attention, gatherRows, gelu, layerNorm, linear, matmul } from '../src/engine/ops.js';
import { argValue, median, report } from './util.js';

const P = { batch: 32, image: 64, patch: 8, width: 256, layers: 4, heads: 4, mlp: 1024, vocab: 1000, seq: 32, embed: 256 };

const vars: tf.Variable[] = [];
const normal = (shape: number[], std = 0.02) => { const v = tf.variable(tf.randomNormal(shape, 0, std), true, `p${vars.length}`); vars.push(v); return v; };
const constant = (shape: number[], value: number) => { const v = tf.variable(tf.fill(shape, value), true, `p${vars.length}`); vars.push(v); return v; };

function block(w: number, h: number, mlp: number) {
  const p = {
    ln1w: constant([w], 1), ln1b: constant([w], 0), qkv: normal([3 * w, w]), qkvb: constant([3 * w], 0),
    proj: normal([w, w]), projb: constant([w], 0), ln2w: constant([w], 1), ln2b: constant([w], 0),
    fc1: normal([mlp, w]), fc1b: constant([mlp], 0), fc2: normal([w, mlp]), fc2b: constant([w], 0),
  };
  return (x: tf.Tensor): tf.Tensor => {
    const y = layerNorm(x, p.ln1w, p.ln1b, 1e-6);
    const [q, k, v] = tf.split(linear(y, p.qkv, p.qkvb), 3, 2) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const { context } = attention(q, k, v, h);
    const x1 = tf.add(x, linear(context, p.proj, p.projb));
    const y2 = layerNorm(x1, p.ln2w, p.ln2b, 1e-6);
    return tf.add(x1, linear(gelu(linear(y2, p.fc1, p.fc1b)), p.fc2, p.fc2b));
  };
}

function tower(tokens: number) {
  const pos = normal([tokens, P.width]);
  const blocks = Array.from({ length: P.layers }, () => block(P.width, P.heads, P.mlp));
  const lnw = constant([P.width], 1), lnb = constant([P.width], 0), out = normal([P.embed, P.width]);
  return (x: tf.Tensor): tf.Tensor => {
    let h = tf.add(x, pos);
    for (const f of blocks) h = f(h);
    h = layerNorm(h, lnw, lnb, 1e-6);
    const cls = h.slice([0, 0, 0], [-1, 1, -1]).reshape([-1, P.width]);
    return linear(cls, out);
  };
}

function l2normalize(x: tf.Tensor): tf.Tensor {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12));
}

async function main(): Promise<void> {
  await initBackend(argValue('--backend'));
  const steps = Number(argValue('--steps') ?? 10), warmup = Number(argValue('--warmup') ?? 2);
  tf.randomNormal([1], 0, 1, 'float32', 0).dispose();
  const g = P.image / P.patch, patchDim = 3 * P.patch * P.patch;
  const patchW = normal([P.width, patchDim]), patchB = constant([P.width], 0), cls = normal([1, 1, P.width]);
  const vision = tower(g * g + 1);
  const tok = normal([P.vocab, P.width]);
  const text = tower(P.seq);
  const images = tf.randomUniform([P.batch, 3, P.image, P.image]);
  const ids = tf.randomUniform([P.batch, P.seq], 0, P.vocab, 'int32');
  const labels = tf.oneHot(tf.range(0, P.batch, 1, 'int32'), P.batch);
  const opt = AdamW.forVariables(vars, { weightDecay: 0.01 });

  const lossFn = (): tf.Scalar => {
    const patches = images.reshape([P.batch, 3, g, P.patch, g, P.patch]).transpose([0, 2, 4, 1, 3, 5]).reshape([P.batch, g * g, patchDim]);
    const x = tf.concat([tf.tile(cls, [P.batch, 1, 1]), linear(patches, patchW, patchB)], 1);
    const img = l2normalize(vision(x));
    const txt = l2normalize(text(gatherRows(tok, ids)));
    const logits = tf.div(matmul(img, txt, false, true), 0.07);
    return tf.div(tf.add(tf.losses.softmaxCrossEntropy(labels, logits), tf.losses.softmaxCrossEntropy(labels, logits.transpose())), 2) as tf.Scalar;
  };

  const times: number[] = [];
  let loss = 0;
  let tensorsAfterFirst = 0;
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(lossFn, vars);
      opt.apply(grads, 1e-4);
      return value.dataSync()[0]!;
    });
    if (i >= warmup) times.push(performance.now() - t0);
    if (i === 0) tensorsAfterFirst = tf.memory().numTensors;
  }
  report({
    impl: 'dlip', bench: 'two-tower', backend: activeBackend(), median_ms: median(times), loss,
    leaked_tensors: tf.memory().numTensors - tensorsAfterFirst,
  });
}

await main();
