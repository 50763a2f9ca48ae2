// A BLIP-shaped training step (ITC + ITM with hard negatives + LM, forward + backward + AdamW) on the
// project's BlipForPreTraining, or a teacher forward without gradients (--mode forward). Same
// shapes and init as bench/blip_step.py. Prints one JSON line.
//   node dist/bench/blip-step.js [--mode step|forward] [--backend native] [--steps 10]
import { AdamW } from '../src/train/optimizer.js';
import { tf, initBackend, activeBackend } from '../src/engine/backend.js';
import { createModel } from '../src/models/blip.js';
import type { BlipForPreTraining } from '../src/models/blip.js';
import { parseBlipConfig } from '../src/models/config.js';
import { initParameters } from '../src/nn/init.js';
import { pretrainLosses } from '../src/objectives/pretrain.js';
import type { PretrainBatch, PretrainOptions } from '../src/objectives/pretrain.js';
import { argValue, median, report } from './util.js';

const B = 32, T = 32, VOCAB = 30524;

await initBackend(argValue('--backend'));
const mode = argValue('--mode') ?? 'step';
const steps = Number(argValue('--steps') ?? 10), warmup = Number(argValue('--warmup') ?? 2);
const config = parseBlipConfig(
  {
    image_text_hidden_size: 128,
    vision_config: { hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 4, num_attention_heads: 4, image_size: 64, patch_size: 8 },
    text_config: {
      vocab_size: VOCAB, hidden_size: 256, encoder_hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 4,
      num_attention_heads: 4, max_position_embeddings: 64,
    },
  },
  'bench',
);
const model = createModel(config, 'BlipForPreTraining') as BlipForPreTraining;
initParameters(model, 0);
const vars = [...model.namedParameters().values()].map((p) => p.value);

let seed = 1;
const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
const ids = new Int32Array(B * T).map((_, i) => (i % T === 0 ? 101 : 1000 + Math.floor(random() * 29000)));
const maskData = new Int32Array(B * T).fill(1);
for (let b = 0; b < B; b += 2) for (let t = T - 4; t < T; t++) (maskData[b * T + t] = 0), (ids[b * T + t] = 0);
const batch: PretrainBatch = {
  pixels: tf.randomUniform([B, 3, 64, 64]),
  inputIds: tf.tensor2d(ids, [B, T], 'int32'),
  attentionMask: tf.tensor2d(maskData, [B, T], 'int32'),
  imageIds: Array.from({ length: B }, (_, i) => i),
};
const options: PretrainOptions = {
  weights: { itc: 1, itm: 1, lm: 1 }, alpha: 0.4, encTokenId: 30523, decTokenId: 30522, padTokenId: 0, labelSmoothing: 0.1,
};
const opt = AdamW.forVariables(vars, { weightDecay: 0.01 });

const times: number[] = [];
let tensorsAfterFirst = 0;
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now();
  tf.tidy(() => {
    if (mode === 'step') {
      const { value, grads } = tf.variableGrads(() => pretrainLosses(model, batch, options, undefined, random).total, vars);
      opt.apply(grads, 1e-4);
      value.dataSync();
    } else {
      const image = model.encodeImage(batch.pixels).lastHiddenState;
      const text = model.encodeText(batch.inputIds, batch.attentionMask).lastHiddenState;
      const mm = model.encodeMultimodal(batch.inputIds, batch.attentionMask, image).lastHiddenState;
      const outs = [model.imageProjection(image), model.textProjection(text), model.itmLogits(mm),
        model.decode(batch.inputIds, batch.attentionMask, image).logits];
      tf.sum(outs[3]!).dataSync();
    }
  });
  if (i >= warmup) times.push(performance.now() - t0);
  if (i === 0) tensorsAfterFirst = tf.memory().numTensors;
}
report({ impl: 'dlip', bench: `blip-${mode}`, backend: activeBackend(), median_ms: median(times), leaked_tensors: tf.memory().numTensors - tensorsAfterFirst });
