// Dynamic int8: the per-channel weight quantiser, and int8 graphs that stay near the float ones.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { loadPreset } from '../../src/models/presets.js';
import { createRng, initParameters } from '../../src/nn/init.js';
import { buildGraphs } from '../../src/onnx/graphs.js';
import { quantizeWeight } from '../../src/onnx/quantize.js';
import { OnnxSession, floats, int64s } from '../../src/onnx/session.js';

describe('int8 export', () => {
  before(async () => {
    await initBackend();
  });

  it('quantises each output channel symmetrically, within half a step of the weight', () => {
    const rows = 3;
    const cols = 5;
    const w = Float32Array.from([0.1, -0.2, 0.3, 0.05, -0.4, 10, 20, -30, 0, 5, 0, 0, 0, 0, 0]);
    const q = quantizeWeight(w, rows, cols);
    assert.deepEqual(Array.from(q.scale), [Math.fround(0.4 / 127), Math.fround(30 / 127), 1]);
    for (let o = 0; o < rows; o++) {
      for (let i = 0; i < cols; i++) {
        const back = q.values[i * rows + o]! * q.scale[o]!;
        assert.ok(Math.abs(back - w[o * cols + i]!) <= q.scale[o]! / 2 + 1e-7, `[${o},${i}]: ${back} vs ${w[o * cols + i]}`);
      }
    }
    assert.equal(q.values[4 * rows + 0], -127);
    assert.equal(q.values[2 * rows + 1], -127);
  });

  it('int8 graphs of a tiny-student are ~4x smaller (linear weights and word embeddings) and stay close to fp32', async () => {
    const model = createModel(loadPreset('tiny-student'), 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 11);
    const open = async (mode: 'float' | 'int8') => {
      const graphs = buildGraphs(model, mode, ['image_encoder', 'itm']);
      const image = graphs.get('image_encoder')!();
      const itm = graphs.get('itm')!();
      return { bytes: image.initializerBytes, textBytes: itm.initializerBytes, image: await OnnxSession.open(image.encode('t')), itm: await OnnxSession.open(itm.encode('t')) };
    };
    const fp = await open('float');
    const q8 = await open('int8');
    assert.ok(q8.bytes < fp.bytes * 0.35, `image encoder initializers ${q8.bytes} B (int8) vs ${fp.bytes} B (fp32)`);
    assert.ok(q8.textBytes < fp.textBytes * 0.35, `itm initializers ${q8.textBytes} B (int8) vs ${fp.textBytes} B (fp32)`);
    const rng = createRng(5);
    const pixels = floats(Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng() * 4 - 2), [2, 3, 32, 32]);
    const ids = int64s([101, 2417, 4418, 2006, 102, 30523, 2630, 2675, 102, 0], [2, 5]);
    const mask = int64s([1, 1, 1, 1, 1, 1, 1, 1, 1, 0], [2, 5]);
    const run = async (s: typeof fp) => {
      const image = await s.image.run({ pixel_values: pixels });
      const itm = await s.itm.run({ input_ids: ids, attention_mask: mask, image_embeds: image.image_embeds! });
      return { feat: image.image_feat!.data, logits: itm.itm_logits!.data };
    };
    const a = await run(fp);
    const b = await run(q8);
    const cos = a.feat.reduce((s, v, i) => s + v * b.feat[i]!, 0) / 2; // two unit rows
    assert.ok(cos > 0.99, `image_feat cosine fp32 vs int8 ${cos}`);
    assert.ok(cos < 1 - 1e-7, 'int8 output identical to fp32: quantisation did not happen');
    const worst = Math.max(...Array.from(a.logits, (v, i) => Math.abs(v - b.logits[i]!)));
    assert.ok(worst < 0.1, `itm_logits differ by ${worst}`);
    model.dispose();
  });
});
