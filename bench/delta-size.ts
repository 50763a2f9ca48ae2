// How small a delta update is for a fine-tune of a student. A tiny-student (pre-training composite,
// seeded init) is saved as the deployed captioner (the base), fine-tuned for captioning with
// `finetune` (the code of `dlip finetune --task caption`) for a few steps, twice: every parameter
// trained, and a partial fine-tune that freezes all but the decoder's last layer and the LM head's
// transform and bias (`--freeze`, PARTIAL_FREEZE below). The patch from base to fine-tune is measured
// against the full weights file and against that file compressed whole (what shipping the whole
// model would cost), for both node:zlib codecs, in F32 and for F16 exports of both models. Every patch
// is applied back and checked byte for byte. Prints one JSON line per case.
//   node dist/bench/delta-size.js [--model tiny-student] [--steps 20] [--lr 1e-4] [--batch-size 8]
//     [--world tiny] [--work /tmp/dlip-delta-bench] [--out delta.json]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, deflateRawSync } from 'node:zlib';
import { initBackend, activeBackend } from '../src/engine/backend.js';
import { applyDelta, createDelta, CODECS } from '../src/delta/index.js';
import { writeFileAtomic, writeJsonAtomic } from '../src/io/atomic.js';
import { loadModel, saveModel } from '../src/io/checkpoint.js';
import { createModel } from '../src/models/blip.js';
import type { BlipForPreTraining } from '../src/models/blip.js';
import { taskModelFrom } from '../src/models/convert.js';
import { resolveConfig } from '../src/models/resolve.js';
import { initParameters } from '../src/nn/init.js';
import { finetune } from '../src/train/finetune.js';
import { report } from './util.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' }, steps: { type: 'string' }, lr: { type: 'string' }, 'batch-size': { type: 'string' },
    world: { type: 'string' }, work: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' },
  },
  strict: true,
});

/** Everything but the decoder's last layer (its self-attention, and the cross-attention and FFN it shares with text_encoder) and the LM head's transform and bias. */
const PARTIAL_FREEZE = ['vision_model', 'text_encoder.embeddings', 'text_encoder.encoder.layer.0', 'text_decoder.bert.encoder.layer.0', 'text_decoder.cls.predictions.decoder', 'vision_proj', 'text_proj', 'itm_head', 'temp'];

const mb = (bytes: number) => Number((bytes / 1e6).toFixed(3));

/** Saves `dir` again in F16 (what `dlip export weights --dtype f16` writes). */
async function exportF16(dir: string, out: string): Promise<string> {
  await rm(out, { recursive: true, force: true });
  const { model } = await loadModel(dir);
  await saveModel(model, out, { dtype: 'F16' });
  model.dispose();
  return out;
}

async function measure(fineTune: string, label: string, base: string, next: string, work: string): Promise<Record<string, unknown>[]> {
  const weights = await readFile(join(next, 'model.safetensors'));
  const whole = {
    deflate: deflateRawSync(weights, { level: 9 }).length,
    brotli: brotliCompressSync(weights, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } }).length,
  };
  const rows: Record<string, unknown>[] = [];
  for (const codec of CODECS) {
    let started = performance.now();
    const { bytes, header } = await createDelta(base, next, { codec });
    const createMs = performance.now() - started;
    const patch = join(work, `${fineTune}.${label}.${codec}.patch`);
    await writeFileAtomic(patch, bytes);
    const out = join(work, `${fineTune}.${label}.${codec}.applied`);
    await rm(out, { recursive: true, force: true });
    started = performance.now();
    await applyDelta(base, patch, out);
    const applyMs = performance.now() - started;
    if (!(await readFile(join(out, 'model.safetensors'))).equals(weights)) throw new Error(`${label}/${codec}: the applied weights differ from the fine-tune's`);
    const t = header.summary.tensors;
    rows.push({
      fine_tune: fineTune,
      weights: label,
      codec,
      model_mb: mb(weights.length),
      model_compressed_mb: mb(whole[codec]),
      patch_mb: mb(bytes.length),
      patch_vs_model: Number((bytes.length / weights.length).toFixed(3)),
      patch_vs_compressed_model: Number((bytes.length / whole[codec]).toFixed(3)),
      tensors_changed: t.changed + t.added,
      tensors_total: header.tensors.length,
      create_ms: Math.round(createMs),
      apply_ms: Math.round(applyMs),
    });
    report(rows.at(-1)!);
  }
  return rows;
}

async function main(): Promise<void> {
  await initBackend(args.backend);
  const spec = args.model ?? 'tiny-student';
  const steps = Number(args.steps ?? 20);
  const lr = Number(args.lr ?? 1e-4);
  const batchSize = Number(args['batch-size'] ?? 8);
  const work = args.work ?? (await mkdtemp(join(tmpdir(), 'dlip-delta-bench-')));
  const { config } = resolveConfig(spec);

  // The deployed base: the student's captioner, as the fine-tune will export it.
  const pretrained = createModel(config, 'BlipForPreTraining') as BlipForPreTraining;
  initParameters(pretrained, 0);
  const start = join(work, 'start');
  await saveModel(pretrained, start);
  const captioner = taskModelFrom(pretrained, 'BlipForConditionalGeneration');
  const base = join(work, 'base');
  await saveModel(captioner, base);
  captioner.dispose();
  pretrained.dispose();

  const rows: Record<string, unknown>[] = [];
  for (const [fineTune, freeze] of [['full', undefined], ['partial', PARTIAL_FREEZE]] as const) {
    const started = performance.now();
    const run = await finetune({
      task: 'caption', model: start, out: join(work, `run-${fineTune}`), steps, lr, batchSize, warmupSteps: Math.max(1, Math.floor(steps / 4)),
      world: (args.world ?? 'tiny') as 'tiny', evalImages: 8, checkpointEvery: steps + 1, seed: 0, freeze: freeze && [...freeze],
    });
    report({ stage: 'finetune', fine_tune: fineTune, model: spec, steps, lr, batch_size: batchSize, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) });
    rows.push(
      ...(await measure(fineTune, 'f32', base, run.modelDir, work)),
      ...(await measure(fineTune, 'f16', await exportF16(base, join(work, 'base-f16')), await exportF16(run.modelDir, join(work, `${fineTune}-f16`)), work)),
    );
  }
  if (args.out) await writeJsonAtomic(args.out, { backend: activeBackend(), model: spec, steps, lr, batchSize, rows });
  if (!args.work) await rm(work, { recursive: true, force: true });
}

await main();
