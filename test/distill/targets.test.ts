// The teacher-target cache on the tiny world: a cached record is the live teacher's (to float16 where
// the cache stores float16), its key moves with every input that changes the teacher's outputs, a
// killed build resumes from its complete shards and never reads a temp file, and distill() with the
// cache trains as the live teacher does while running no teacher forward but ITM's fused pass.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../src/engine/backend.js';
import { linear } from '../../src/engine/ops.js';
import { DecodePool } from '../../src/data/pipeline/decode-pool.js';
import { disposeBatch } from '../../src/data/pipeline/loader.js';
import type { Batch } from '../../src/data/pipeline/loader.js';
import { defaultTokenizer } from '../../src/data/tokenizer.js';
import { distill, TEACHER_CACHE_FILE, useTeacherCache } from '../../src/distill/distill.js';
import type { DistillConfig } from '../../src/distill/distill.js';
import { loadRecipe, recipeNeeds } from '../../src/distill/recipe.js';
import { TeacherTargets, targetSpec, targetsKey, topKRow } from '../../src/distill/targets.js';
import type { TargetsOptions, TargetsReport } from '../../src/distill/targets.js';
import { disposeRecord, teacherForward } from '../../src/distill/teacher.js';
import { saveModel } from '../../src/io/checkpoint.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { createModel } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import type { EncoderOutput } from '../../src/models/outputs.js';
import { TextModel } from '../../src/models/text.js';
import { VisionModel } from '../../src/models/vision.js';
import { initParameters } from '../../src/nn/init.js';
import { PretrainConfigSchema } from '../../src/train/pretrain.js';
import type { PretrainConfig } from '../../src/train/pretrain.js';
import { openPretrainData, pretrainBatches, toPretrainBatch } from '../../src/train/pretrain-data.js';
import type { PretrainData, PretrainItem } from '../../src/train/pretrain-data.js';
import { maxDiff } from './helpers.js';
import { objective, pairModel, studentConfig, teacherConfig } from './pair.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-targets-'));
const tokenizer = defaultTokenizer();
const pool = new DecodePool();
let cfg: PretrainConfig;
let data: PretrainData;
let teacher: BlipForPreTraining;
/** Images the teacher encoded (the image tower runs for every pair a build computes). */
let encoded = 0;

before(async () => {
  await initBackend();
  process.env.DLIP_CACHE = join(work, 'cache');
  cfg = PretrainConfigSchema.parse({ out: join(work, 'unused'), world: 'tiny', batchSize: 4, maxTokens: 12 });
  data = await openPretrainData(cfg, { onWarning: () => undefined });
  teacher = pairModel(teacherConfig(), 1);
  const encodeImage = teacher.encodeImage.bind(teacher);
  teacher.encodeImage = (pixels, out) => {
    encoded += pixels.shape[0]!;
    return encodeImage(pixels, out);
  };
});

after(async () => {
  await pool.close();
  teacher.dispose();
  rmSync(work, { recursive: true, force: true });
});

const recipe = () => loadRecipe('all-signals');

function options(root: string, over: Partial<TargetsOptions> = {}): TargetsOptions {
  return { teacher, spec: targetSpec(recipe(), studentConfig(), teacher.config, 2, 16), data, cfg, objective, tokenizer, pool, root, ...over };
}

/** The first training batch (epoch 0) that holds flipped and unflipped images. */
async function mixedBatch(): Promise<Batch<PretrainItem>> {
  for await (const b of pretrainBatches(data, cfg, 8, tokenizer, pool)(0, 0)) {
    if (b.flipped.includes(true) && b.flipped.includes(false)) return b;
    disposeBatch(b);
  }
  throw new Error('no epoch-0 batch mixes flipped and unflipped images');
}

/** Largest |x| of a tensor, to scale float16's relative rounding. */
const maxAbs = (x: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]!);

describe('teacher-target cache', () => {
  it('topKRow picks what tf.topk picks, in its order, ties to the lower index', () => {
    const values = Float32Array.from([3, 1, 3, -2, 7, 3, 0, 7, 3]);
    const ids = new Int32Array(8);
    const top = new Float32Array(8);
    topKRow(values, 1, 8, 4, ids, top, 2); // the row is values[1..9), written at offset 2
    const row = tf.tensor1d(values.subarray(1));
    const expected = tf.topk(row, 4);
    assert.deepEqual(Array.from(ids.subarray(2, 6)), Array.from(expected.indices.dataSync()));
    assert.deepEqual(Array.from(top.subarray(2, 6)), Array.from(expected.values.dataSync()));
    tf.dispose([row, expected.values, expected.indices]);
  });

  it('gives the live teacher record on a mixed flipped/unflipped batch: exact parts to 1e-5, float16 parts to their rounding', async () => {
    const needs = recipeNeeds(recipe());
    const o = options(join(work, 'record'));
    encoded = 0;
    const targets = await TeacherTargets.open(o, needs, 16);
    assert.equal(encoded, data.items.length * 2, 'the build encodes every pair in both views');
    const b = await mixedBatch();
    const batch = toPretrainBatch(b);
    const negatives = { imageForText: [1, 2, 3, 0], textForImage: [3, 0, 1, 2] };
    const live = teacherForward(teacher, batch, objective, needs, negatives);
    const cached = targets.record(b, negatives);
    try {
      const exact: [string, tf.Tensor, tf.Tensor][] = [
        ['image tokens', cached.image.lastHiddenState, live.image.lastHiddenState],
        ['image features', cached.features!.image, live.features!.image],
        ['text features', cached.features!.text, live.features!.text],
        ['similarity i→t', cached.similarity!.imageToText, live.similarity!.imageToText],
        ['similarity t→i', cached.similarity!.textToImage, live.similarity!.textToImage],
        ['ITM logits', cached.itmLogits!, live.itmLogits!],
        ['fused states', cached.fused!.lastHiddenState, live.fused!.lastHiddenState],
      ];
      for (const [what, c, l] of exact) assert.ok(maxDiff(c, l) <= 1e-5, `${what}: ${maxDiff(c, l)}`);
      assert.deepEqual(cached.negatives, negatives);

      // Uniform maps of the 2-layer student onto the 3-layer teacher read teacher layers 2 and 3 only.
      const { spec } = o;
      for (const [module, c, l] of [['vision', cached.image, live.image], ['text', cached.text!, live.text!], ['decoder', cached.decoder!, live.decoder!]] as [string, EncoderOutput, EncoderOutput][]) {
        const m = module as 'vision' | 'text' | 'decoder';
        assert.deepEqual(spec.hiddenStates[m], [2, 3]);
        assert.equal(c.hiddenStates![1], undefined, `${module}: unmapped layer 1 was cached`);
        for (const layer of spec.hiddenStates[m]) {
          const tol = maxAbs(l.hiddenStates![layer]!) * 2 ** -11;
          assert.ok(maxDiff(c.hiddenStates![layer]!, l.hiddenStates![layer]!) <= tol, `${module} hidden ${layer}`);
        }
        for (const layer of spec.attentions[m]) assert.ok(maxDiff(c.attentions![layer - 1]!, l.attentions![layer - 1]!) <= 2 ** -11, `${module} attention ${layer}`);
        if (m !== 'vision') assert.ok(maxDiff(c.lastHiddenState, l.lastHiddenState) <= maxAbs(l.lastHiddenState) * 2 ** -11, `${module} last states`);
      }

      // LM: per caption token, the 16 largest of the live logits (ids may swap only between equal values) and the log-sum-exp of all.
      const { weight, bias } = teacher.textDecoder.cls.projection;
      const logits = linear(live.lm!.states, weight, bias);
      const [bs, t] = logits.shape as [number, number, number];
      const liveTop = tf.topk(logits, 16);
      const lse = tf.logSumExp(logits, -1);
      const top = cached.lmTopK!;
      const atIds = tf.gather(logits.reshape([bs * t, -1]), top.indices.reshape([bs * t, 16]), 1, 1).reshape([bs, t, 16]);
      const mask = batch.attentionMask.toFloat().expandDims(2);
      assert.ok(maxDiff(tf.mul(top.logits, mask), tf.mul(liveTop.values, mask)) <= 1e-5, 'top-k logits');
      assert.ok(maxDiff(tf.mul(atIds, mask), tf.mul(top.logits, mask)) <= 1e-5, 'top-k ids point at those logits');
      assert.ok(maxDiff(tf.mul(top.logSumExp, mask.squeeze([2])), tf.mul(lse, mask.squeeze([2]))) <= 1e-5, 'log-sum-exp');
      tf.dispose([logits, liveTop.values, liveTop.indices, lse, atIds, mask]);
    } finally {
      disposeRecord(live);
      disposeRecord(cached);
      disposeBatch(b);
      targets.close();
    }
  });

  it('keys the cache by teacher weights, recipe, top-k, preprocessing and views; the same inputs give the same key', async () => {
    const o = options(join(work, 'keys'));
    const key = targetsKey(o);
    assert.equal(targetsKey(options(join(work, 'keys'))), key);
    const changed: [string, TargetsOptions][] = [
      ['recipe', { ...o, spec: targetSpec(loadRecipe('vision-only'), studentConfig(), teacher.config, 2, 16) }],
      ['top-k', { ...o, spec: { ...o.spec, topK: 8 } }],
      ['views', { ...o, spec: { ...o.spec, views: 1 } }],
      ['max tokens', { ...o, cfg: { ...cfg, maxTokens: 13 } }],
      ['prompt', { ...o, cfg: { ...cfg, prompt: 'a picture of ' } }],
    ];
    for (const [what, other] of changed) assert.notEqual(targetsKey(other), key, `${what} left the key unchanged`);
    const p = teacher.textDecoder.cls.projection.bias as tf.Variable;
    const saved = p.clone();
    tf.tidy(() => p.assign(tf.add(p, tf.oneHot([7], p.shape[0]!).reshape(p.shape).mul(1e-3))));
    try {
      assert.notEqual(targetsKey(o), key, 'one teacher weight changed, the key did not');
    } finally {
      p.assign(saved);
      saved.dispose();
    }
    assert.equal(targetsKey(o), key);
  });

  it('resumes a killed build from its complete shards, never reading or keeping an orphaned temp shard', async () => {
    // The cache the record test built, as a build killed while writing shard 2 (after shards 0, 1 and
    // 3) leaves it: no index, shard 2 only as a temp file of a dead process.
    const root = join(work, 'record');
    const needs = recipeNeeds(recipe());
    const dir = join(root, targetsKey(options(root)));
    rmSync(join(dir, 'index.json'));
    rmSync(join(dir, 'shard-00002.safetensors'));
    const orphan = join(dir, '.shard-00002.safetensors.999999999.1.tmp');
    writeFileSync(orphan, 'half a shard');
    const kept = statSync(join(dir, 'shard-00000.safetensors'));
    encoded = 0;
    const resumed = await TeacherTargets.open(options(root), needs, 16);
    try {
      assert.equal(resumed.report.reused, false);
      const shard2Pairs = data.items.filter((i) => i.imageIndex >= 8 && i.imageIndex < 12).length;
      assert.equal(encoded, shard2Pairs * 2, 'only the missing shard was computed');
      assert.ok(!existsSync(orphan), 'the orphaned temp shard was left behind');
      assert.ok(existsSync(join(dir, 'index.json')));
      assert.equal(statSync(join(dir, 'shard-00000.safetensors')).mtimeMs, kept.mtimeMs, 'a complete shard was rewritten');
      const b = await mixedBatch();
      const negatives = { imageForText: [1, 2, 3, 0], textForImage: [3, 0, 1, 2] };
      const live = teacherForward(teacher, toPretrainBatch(b), objective, needs, negatives);
      const cached = resumed.record(b, negatives);
      assert.ok(maxDiff(cached.features!.text, live.features!.text) <= 1e-5);
      assert.ok(maxDiff(cached.itmLogits!, live.itmLogits!) <= 1e-5);
      disposeRecord(live);
      disposeRecord(cached);
      disposeBatch(b);
    } finally {
      resumed.close();
    }
    // With the index, nothing is computed again.
    encoded = 0;
    const reused = await TeacherTargets.open(options(root), needs, 16);
    reused.close();
    assert.equal(encoded, 0);
    assert.equal(reused.report.reused, true);
  });
});

describe('distill with the teacher-target cache', () => {
  const teacherDir = join(work, 'teacher');
  const studentDir = join(work, 'student');
  const TEACHER_WIDTH = 16;

  async function saveFolder(dir: string, width: number, layers: number, seed: number): Promise<void> {
    const config = parseBlipConfig(
      {
        image_text_hidden_size: 8,
        vision_config: { hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, image_size: 16, patch_size: 8 },
        text_config: { vocab_size: 30524, hidden_size: width, encoder_hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, max_position_embeddings: 40 },
      },
      dir,
    );
    const model = createModel(config, 'BlipForPreTraining');
    initParameters(model, seed);
    await saveModel(model, dir);
    model.dispose();
  }

  /** Teacher forwards by kind, counted while `counting` (models are told apart by width). */
  const calls = { vision: 0, text: 0, fused: 0, decoder: 0 };
  let counting = false;
  const visionForward = VisionModel.prototype.forward;
  const textForward = TextModel.prototype.forward;

  before(async () => {
    await saveFolder(teacherDir, TEACHER_WIDTH, 2, 1);
    await saveFolder(studentDir, 8, 1, 2);
    VisionModel.prototype.forward = function (this: VisionModel, ...args: Parameters<typeof visionForward>) {
      if (counting && this.config.hidden_size === TEACHER_WIDTH) calls.vision++;
      return visionForward.apply(this, args);
    };
    TextModel.prototype.forward = function (this: TextModel, ...args: Parameters<typeof textForward>) {
      const opts = args[2] ?? {};
      if (counting && this.config.hidden_size === TEACHER_WIDTH) calls[opts.encoderHiddenStates ? (opts.causal ? 'decoder' : 'fused') : 'text']++;
      return textForward.apply(this, args);
    };
  });

  after(() => {
    VisionModel.prototype.forward = visionForward;
    TextModel.prototype.forward = textForward;
  });

  // Every signal but LM KD, whose cached teacher is top-k (an approximation) rather than float16 rounding.
  const recipeFile = join(work, 'no-lm-kd.json');
  const base = { teacher: teacherDir, student: studentDir, world: 'tiny' as const, batchSize: 4, maxTokens: 12, warmupSteps: 0, lr: 3e-3, logEvery: 1, evalImages: 4, steps: 3, recipe: recipeFile, teacherTopK: 8 };

  async function run(name: string, teacherCache: string | false) {
    const terms: Record<string, number>[] = [];
    const reports: TargetsReport[] = [];
    for (const k of Object.keys(calls) as (keyof typeof calls)[]) calls[k] = 0;
    const out = join(work, name);
    counting = teacherCache === false; // the live run counts from its first step; a cached one once its cache is open
    try {
      await distill({ ...base, out, teacherCache }, {
        onTeacherTargets: (r) => {
          reports.push(r);
          counting = reports.length === 1;
        },
        onStep: (e) => terms.push(e.terms),
        onEval: () => undefined,
      });
    } finally {
      counting = false;
    }
    return { terms, reports, out, calls: { ...calls } };
  }

  it('trains as the live teacher does, reuses its cache in a second run and runs only ITM\'s fused pass live', async () => {
    const recipeJson = JSON.parse(readFileSync(loadRecipe('all-signals').source, 'utf8'));
    delete recipeJson.terms.lm;
    writeFileSync(recipeFile, JSON.stringify(recipeJson));
    const cacheRoot = join(work, 'teacher-cache');
    const live = await run('live', false);
    const first = await run('cached', cacheRoot);
    const second = await run('cached-again', cacheRoot);

    assert.ok(live.calls.vision > 0 && live.calls.text > 0, 'the live run was not counted');
    assert.ok(!existsSync(join(live.out, TEACHER_CACHE_FILE)), 'a live run wrote a cache report');
    assert.equal(live.reports.length, 0);

    for (const [name, r] of [['first', first], ['second', second]] as const) {
      assert.equal(r.terms.length, 3);
      for (let step = 0; step < 3; step++) {
        for (const [term, value] of Object.entries(live.terms[step]!)) {
          const got = r.terms[step]![term]!;
          assert.ok(Math.abs(got - value) <= 1e-3 * Math.abs(value) + 1e-5, `${name} cached run, step ${step + 1}, ${term}: ${got}, live ${value}`);
        }
      }
      assert.deepEqual({ ...r.calls, fused: r.calls.fused > 0 }, { vision: 0, text: 0, decoder: 0, fused: true }, `${name} cached run's teacher forwards: ${JSON.stringify(r.calls)}`);
    }
    assert.equal(first.reports[0]!.reused, false);
    assert.equal(second.reports[0]!.reused, true);
    assert.equal(second.reports[0]!.dir, first.reports[0]!.dir);

    const report = JSON.parse(readFileSync(join(first.out, TEACHER_CACHE_FILE), 'utf8')) as TargetsReport;
    for (const k of ['bytes', 'bytesPerPair', 'bytesPerView', 'buildSeconds', 'liveTeacherSecondsPerEpoch', 'readSecondsPerEpoch'] as const) {
      assert.ok(Number.isFinite(report[k]) && report[k]! > 0, `report.${k} = ${report[k]}`);
    }
    assert.deepEqual(report.views, ['unflipped', 'flipped']);
    assert.equal(report.savedSecondsPerEpoch, report.liveTeacherSecondsPerEpoch - report.readSecondsPerEpoch!);
  });

  it('by default caches only a run that reads every training pair, and says when the teacher runs live', async () => {
    const decide = (cfg: Partial<DistillConfig>) => {
      const warnings: string[] = [];
      const used = useTeacherCache({ epochs: 1, batchSize: 4, ...cfg } as DistillConfig, 80, 20, { onWarning: (m) => warnings.push(m) });
      return { used, warnings };
    };
    assert.deepEqual(decide({ steps: 20 }), { used: true, warnings: [] });
    assert.deepEqual(decide({ epochs: 2 }), { used: true, warnings: [] });
    const short = decide({ steps: 19 });
    assert.equal(short.used, false);
    assert.match(short.warnings[0]!, /reads 76 of the 80 training pairs/);
    assert.deepEqual(decide({ steps: 3, teacherCache: join(work, 'forced') }), { used: true, warnings: [] });
    assert.deepEqual(decide({ steps: 40, teacherCache: false }), { used: false, warnings: [] });

    const warnings: string[] = [];
    const out = join(work, 'default-short');
    await distill({ ...base, out }, { onWarning: (m) => warnings.push(m), onEval: () => undefined });
    assert.ok(!existsSync(join(out, TEACHER_CACHE_FILE)), 'a 3-step run on 80 pairs built a cache by default');
    assert.ok(warnings.some((m) => m.includes('the teacher runs live')), warnings.join('\n'));
  });
});
