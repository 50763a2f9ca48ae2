// Behaviour of the model family beyond parity: init, sharing, causality, leaks, cost figures.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { BlipForPreTraining, createModel } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { loadPreset } from '../../src/models/presets.js';
import { ARCHITECTURES } from '../../src/models/config.js';
import { taskCost } from '../../src/eval/cost.js';
import { VisionModel } from '../../src/models/vision.js';
import { captionLoss } from '../../src/objectives/lm.js';
import { tinyConfig } from '../helpers/tiny.js';
import { fixtureConfig, fixtureWeights } from '../helpers/fixtures.js';
import type { FixtureTask } from '../helpers/fixtures.js';

before(async () => {
  await initBackend('cpu');
});

function inputs(batch = 2, length = 5) {
  const ids = tf.tensor2d([[1, 4, 7, 9, 2], [1, 5, 3, 2, 0]].slice(0, batch), [batch, length], 'int32');
  const mask = tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]].slice(0, batch), [batch, length], 'int32');
  const pixels = tf.randomNormal([batch, 3, 8, 8], 0, 1, 'float32', 7);
  return { ids, mask, pixels };
}

describe('initialisation', () => {
  it('is reproducible from the seed and differs between seeds', () => {
    const values = (seed: number) => {
      const m = createModel(tinyConfig(), 'BlipForImageTextRetrieval');
      initParameters(m, seed);
      const out = [...m.namedParameters()].map(([k, p]) => [k, Array.from(p.value.dataSync())] as const);
      m.dispose();
      return out;
    };
    const a = values(3);
    assert.deepEqual(values(3), a);
    const b = values(4);
    const qkv = (x: typeof a) => x.find(([k]) => k === 'vision_model.encoder.layers.0.self_attn.qkv.weight')![1];
    assert.notDeepEqual(qkv(b), qkv(a));
    const std = Math.sqrt(qkv(a).reduce((s, v) => s + v * v, 0) / qkv(a).length);
    assert.ok(std > 0.015 && std < 0.025, `qkv init std ${std}, expected about 0.02`);
    const ln = a.find(([k]) => k === 'text_encoder.embeddings.LayerNorm.weight')![1];
    assert.ok(ln.every((v) => v === 1));
  });

  it("draws weights and embeddings with the config's initializer_range", () => {
    const m = createModel({ ...tinyConfig(), initializer_range: 0.1 }, 'BlipForImageTextRetrieval');
    initParameters(m, 3);
    const rms = (name: string) => {
      const v = Array.from(m.namedParameters().get(name)!.value.dataSync());
      return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    };
    for (const name of ['vision_model.encoder.layers.0.self_attn.qkv.weight', 'text_encoder.embeddings.word_embeddings.weight', 'vision_model.embeddings.position_embedding']) {
      assert.ok(Math.abs(rms(name) - 0.1) < 0.02, `${name}: std ${rms(name)}, expected about 0.1`);
    }
    assert.equal(rms('vision_proj.bias'), 0);
    m.dispose();
  });
});

describe('pre-training composite', () => {
  it('shares every text-encoder parameter with the decoder except self-attention', () => {
    const shared = createModel(tinyConfig(), 'BlipForPreTraining') as BlipForPreTraining;
    const unshared = createModel({ ...tinyConfig(), share_decoder_with_encoder: false }, 'BlipForPreTraining');
    const keys = [...shared.namedParameters().keys()];
    assert.ok(keys.includes('text_decoder.bert.encoder.layer.0.attention.self.query.weight'));
    assert.ok(!keys.includes('text_decoder.bert.encoder.layer.0.crossattention.self.query.weight'));
    assert.ok(!keys.some((k) => k.startsWith('text_decoder.bert.embeddings')));
    assert.equal(shared.textDecoder.bert.encoder.layer[1]!.output, shared.textEncoder.encoder.layer[1]!.output);
    assert.notEqual(shared.textDecoder.bert.encoder.layer[1]!.attention, shared.textEncoder.encoder.layer[1]!.attention);
    assert.ok(keys.includes('temp'));
    assert.ok(unshared.parameterCount() > shared.parameterCount());
  });

  it('decodes causally: a later token never changes earlier logits', () => {
    const model = createModel(tinyConfig(), 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 1);
    tf.tidy(() => {
      const { ids, mask, pixels } = inputs(1);
      const image = model.encodeImage(pixels).lastHiddenState;
      const a = model.decode(ids, mask, image).logits;
      const changed = tf.tensor2d([[1, 4, 7, 11, 12]], [1, 5], 'int32');
      const b = model.decode(changed, mask, image).logits;
      const early = (t: tf.Tensor) => Array.from(t.slice([0, 0, 0], [1, 3, -1]).dataSync());
      assert.deepEqual(early(b), early(a));
      assert.notDeepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
    });
    model.dispose();
  });
});

describe('memory', () => {
  it('leaks no tensor across a forward and a training step', () => {
    const model = createModel(tinyConfig(), 'BlipForPreTraining') as BlipForPreTraining;
    initParameters(model, 2);
    const { ids, mask, pixels } = inputs();
    const optimizer = tf.train.adam(1e-3);
    const variables = [...model.namedParameters().values()].map((p) => p.value);
    const step = () => {
      const loss = optimizer.minimize(
        () => {
          const image = model.encodeImage(pixels).lastHiddenState;
          const sim = model.similarity(image, model.encodeText(ids, mask).lastHiddenState);
          const itm = model.itmLogits(model.encodeMultimodal(ids, mask, image).lastHiddenState);
          const lm = captionLoss(model.decode(ids, mask, image).logits, ids, 0.1);
          return tf.addN([tf.mean(sim), tf.mean(itm), lm]) as tf.Scalar;
        },
        true,
        variables,
      );
      return loss!;
    };
    step().dispose(); // creates the optimizer's slot variables
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      model.encodeImage(pixels, { outputAttentions: true, outputHiddenStates: true });
    });
    const first = step();
    const second = step();
    assert.ok((second.dataSync()[0] as number) < (first.dataSync()[0] as number), 'loss did not go down');
    first.dispose();
    second.dispose();
    assert.equal(tf.memory().numTensors, before);
    optimizer.dispose();
    model.dispose();
    tf.dispose([ids, mask, pixels]);
  });
});

describe('cost', () => {
  it('counts blip-base, ViT-B/16 and dlip-small as published', () => {
    const base = taskCost(loadPreset('blip-base'), 'BlipForImageTextRetrieval');
    assert.ok(base.parameters > 223e6 && base.parameters < 224.5e6, `blip-base retrieval ${base.parameters}`);
    const vit = new VisionModel({ ...loadPreset('blip-base').vision_config, image_size: 224 });
    assert.ok(Math.abs(vit.parameterCount() - 85.8e6) < 0.1e6, `ViT-B/16 ${vit.parameterCount()}`);
    // ViT-B/16 at 224 px: 17.56 G multiply-accumulates, the figure timm and fvcore report.
    assert.ok(Math.abs(vit.macs() - 17.56e9) < 0.05e9, `ViT-B/16 MACs ${vit.macs()}`);
    const small = taskCost(loadPreset('dlip-small'), 'BlipForImageTextRetrieval');
    assert.ok(small.parameters > 47.5e6 && small.parameters < 48.5e6, `dlip-small ${small.parameters}`);
    assert.ok(small.parameters / base.parameters > 0.2 && small.parameters / base.parameters < 0.23);
  });

  it("sizes tiny-student at no more than 25% of tiny-teacher's parameters and FLOPs, for every task model", () => {
    for (const architecture of ARCHITECTURES) {
      const [student, teacher] = [taskCost(loadPreset('tiny-student'), architecture), taskCost(loadPreset('tiny-teacher'), architecture)];
      for (const key of ['parameters', 'flops'] as const) {
        const ratio = student[key] / teacher[key];
        assert.ok(ratio > 0.05 && ratio <= 0.25, `${architecture} ${key}: ratio ${ratio}`);
      }
    }
  });

  it("counts the parameters of Hugging Face's own state_dict for each fixture model", async () => {
    const architectures = { retrieval: 'BlipForImageTextRetrieval', captioning: 'BlipForConditionalGeneration', vqa: 'BlipForQuestionAnswering' } as const;
    for (const [task, architecture] of Object.entries(architectures) as [FixtureTask, (typeof architectures)[FixtureTask]][]) {
      const weights = await fixtureWeights(task, '');
      let hf = 0;
      for (const [name, t] of weights) {
        // The LM head's decoder.bias is the same Parameter as predictions.bias: stored twice, counted once.
        if (!name.endsWith('cls.predictions.decoder.bias')) hf += t.shape.reduce((a, b) => a * b, 1);
      }
      assert.equal(taskCost(fixtureConfig(task), architecture).parameters, hf, `${task}: dlip vs HF state_dict`);
    }
  });

  it('rejects invalid configs with the field named', () => {
    const bad = { ...tinyConfig(), vision_config: { ...tinyConfig().vision_config, patch_size: 3 } };
    assert.throws(() => createModel(loadPreset('tiny-teacher'), 'Nope' as never), /unknown architecture "Nope"; dlip builds BlipForImageTextRetrieval, /);
    assert.throws(() => createModel(loadPreset('tiny-teacher'), 'toString' as never), /unknown architecture "toString"/);
    return import('../../src/models/config.js').then(({ parseBlipConfig }) => {
      assert.throws(() => parseBlipConfig(bad, 'x.json'), /x\.json[\s\S]*patch_size/);
      assert.throws(() => parseBlipConfig({ text_config: { hidden_size: -1 } }, 'y.json'), /y\.json[\s\S]*hidden_size/);
    });
  });
});
