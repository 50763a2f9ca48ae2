// Task-adaptive distillation end to end on the tiny world: each --task distils from a teacher of its
// own task model (Hugging Face layout), logs its KD terms (and, gated, the gated count), exports the
// task model to <out>/model, which loads; wrong-task teachers and recipes are refused up front.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../src/engine/backend.js';
import { distill } from '../../src/distill/distill.js';
import type { DistillConfigInput } from '../../src/distill/distill.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { createModel } from '../../src/models/blip.js';
import type { Architecture } from '../../src/models/config.js';
import { parseBlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-distill-tasks-'));
const folder = (name: string) => join(work, name);

async function saveFolder(dir: string, architecture: Architecture, width: number, layers: number, seed: number): Promise<void> {
  const config = parseBlipConfig(
    {
      image_text_hidden_size: 8,
      vision_config: { hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, image_size: 32, patch_size: 8 },
      text_config: { vocab_size: 30524, hidden_size: width, encoder_hidden_size: width, intermediate_size: 2 * width, num_hidden_layers: layers, num_attention_heads: 2, max_position_embeddings: 40 },
    },
    dir,
  );
  const model = createModel(config, architecture);
  initParameters(model, seed);
  await saveModel(model, dir);
  rmSync(join(dir, 'dlip.json')); // the Hugging Face layout: config.json names the architecture
  model.dispose();
}

before(async () => {
  await initBackend();
  process.env.DLIP_CACHE = join(work, 'cache');
  await saveFolder(folder('retrieval-teacher'), 'BlipForImageTextRetrieval', 16, 2, 1);
  await saveFolder(folder('caption-teacher'), 'BlipForConditionalGeneration', 16, 2, 1);
  await saveFolder(folder('vqa-teacher'), 'BlipForQuestionAnswering', 16, 2, 1);
  await saveFolder(folder('student'), 'BlipForPreTraining', 8, 1, 2);
});

// all-signals: every term on every module, so each task shows which of them it drops.
const base = { student: folder('student'), recipe: 'all-signals', world: 'tiny' as const, batchSize: 4, warmupSteps: 0, lr: 3e-3, logEvery: 1, evalImages: 4, steps: 3 };

/** Runs a task; returns the logged term names of the first step, the gated counts and the warnings. */
async function run(input: Partial<DistillConfigInput> & { task: string; teacher: string; out: string }) {
  const terms: string[][] = [];
  const gated: number[] = [];
  const warnings: string[] = [];
  const kd: Record<string, number>[] = [];
  const live: number[] = [];
  const result = await distill({ ...base, ...input } as DistillConfigInput, {
    onWarning: (m) => warnings.push(m),
    onStep: (e) => {
      terms.push(Object.keys(e.terms).sort());
      if (e.terms.gated !== undefined) gated.push(e.terms.gated);
      kd.push(Object.fromEntries(Object.entries(e.terms).filter(([k]) => k.startsWith('kd_'))));
      live.push(tf.memory().numTensors);
    },
  });
  // No step leaks a tensor (teacher records, gates, answer rows are all released).
  assert.deepEqual(live, live.map(() => live[0]), `live tensors per step: ${live.join(', ')}`);
  return { result, terms, gated, warnings, kd };
}

async function assertExported(modelDir: string | undefined, architecture: Architecture): Promise<void> {
  assert.ok(modelDir && existsSync(modelDir), 'no exported model');
  const { model } = await loadModel(modelDir);
  assert.equal(model.architecture, architecture);
  assert.equal(model.config.vision_config.hidden_size, 8, 'the export is not the student');
  model.dispose();
}

describe('distill --task', () => {
  it('retrieval: ITC + ITM and the KD terms a retriever has, gated by the teacher ITM; exports the retriever', async () => {
    const r = await run({ task: 'retrieval', teacher: folder('retrieval-teacher'), out: folder('retrieval'), gate: true });
    assert.equal(r.result.steps, 3);
    assert.deepEqual(r.terms[0], ['gated', 'itc', 'itm', 'kd_attention', 'kd_contrastive', 'kd_feature', 'kd_hidden', 'kd_itm', 'lm']);
    for (const step of r.kd) for (const [k, v] of Object.entries(step)) assert.ok(Number.isFinite(v) && v >= 0, `${k} ${v}`);
    assert.equal(r.gated.length, 3);
    for (const g of r.gated) assert.ok(Number.isInteger(g) && g >= 0 && g <= 4, `gated ${g}`);
    assert.ok(r.warnings.some((w) => /BlipForImageTextRetrieval has no parts for terms\.lm, terms\.hidden\.modules\.decoder, terms\.attention\.modules\.decoder/.test(w)), r.warnings.join('\n'));
    await assertExported(r.result.modelDir, 'BlipForImageTextRetrieval');
  });

  it('caption: LM after the prompt and decoder KD; exports the captioner', async () => {
    const r = await run({ task: 'caption', teacher: folder('caption-teacher'), out: folder('caption') });
    assert.deepEqual(r.terms[0], ['itc', 'itm', 'kd_attention', 'kd_hidden', 'kd_lm', 'lm']);
    assert.ok(r.warnings.some((w) => /terms\.contrastive, terms\.itm, terms\.feature, terms\.hidden\.modules\.text, terms\.hidden\.modules\.fused/.test(w)), r.warnings.join('\n'));
    await assertExported(r.result.modelDir, 'BlipForConditionalGeneration');
  });

  it('vqa: answer loss plus answer KD and vision / question-encoder / answer-decoder KD, gated by the teacher answer; exports the VQA model', async () => {
    const r = await run({ task: 'vqa', teacher: folder('vqa-teacher'), out: folder('vqa'), gate: true });
    assert.deepEqual(r.terms[0], ['gated', 'kd_attention', 'kd_hidden', 'kd_lm', 'vqa']);
    assert.equal(r.gated.length, 3);
    for (const g of r.gated) assert.ok(Number.isInteger(g) && g >= 0 && g <= 4, `gated ${g}`);
    for (const step of r.kd) for (const [k, v] of Object.entries(step)) assert.ok(Number.isFinite(v) && v >= 0, `${k} ${v}`);
    assert.ok(existsSync(join(folder('vqa'), 'teacher.json')), 'the VQA teacher was not scored');
    await assertExported(r.result.modelDir, 'BlipForQuestionAnswering');
  });

  it('refuses wrong-task teachers, recipes with nothing for the task, and gating captions, before training', async () => {
    const out = folder('never');
    await assert.rejects(distill({ ...base, task: 'retrieval', teacher: folder('caption-teacher'), out }), /distill --task retrieval: the teacher .*caption-teacher is a BlipForConditionalGeneration; a retrieval teacher is a folder of a BlipForImageTextRetrieval or a BlipForPreTraining/);
    await assert.rejects(distill({ ...base, task: 'vqa', teacher: folder('retrieval-teacher'), out }), /the teacher .* is a BlipForImageTextRetrieval; a vqa teacher is a folder of a BlipForQuestionAnswering or a BlipForPreTraining/);
    await assert.rejects(distill({ ...base, teacher: folder('vqa-teacher'), out }), /distill --task pretrain: the teacher .* is a BlipForQuestionAnswering; a pretrain teacher is a folder of a BlipForPreTraining/);
    await assert.rejects(distill({ ...base, task: 'caption', teacher: folder('caption-teacher'), recipe: 'text-only', out }), /text-only\.json: none of its KD terms applies to --task caption/);
    await assert.rejects(distill({ ...base, task: 'caption', teacher: folder('caption-teacher'), gate: true, out }), /--gate: --task caption has no per-sample verdict/);
    await assert.rejects(distill({ ...base, task: 'retrieval', teacher: folder('retrieval-teacher'), gate: true, recipe: 'no-kd', out }), /--gate: .*no-kd\.json has no KD terms/);
    assert.ok(!existsSync(out), 'a refused run wrote its folder');
  });
});
