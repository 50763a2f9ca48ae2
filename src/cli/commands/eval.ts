import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { BLIP_RETRIEVAL_K, evaluateModel, TASKS } from '../../eval/run.js';
import type { EvalReport, Task } from '../../eval/run.js';
import { nonNegativeInt, onBadSampleOption, positiveInt } from '../options.js';
import type { OnBadSample } from '../../data/errors.js';
import { writeJsonAtomic } from '../../io/atomic.js';

function tasks(value: string): Task[] {
  const list = value.split(',').map((t) => t.trim());
  const bad = list.filter((t) => !(TASKS as readonly string[]).includes(t));
  if (bad.length) throw new InvalidArgumentError(`unknown task(s) ${bad.join(', ')}; choose from ${TASKS.join(', ')}`);
  return list as Task[];
}

function itmFirstToken(value: string): 'enc' | 'cls' {
  if (value !== 'enc' && value !== 'cls') throw new InvalidArgumentError(`expected enc or cls, got "${value}"`);
  return value;
}

function render(r: EvalReport): string {
  const f = (x: number) => x.toFixed(2);
  const lines = [`${r.model} (${r.architecture}${r.runtime ? `, ${r.runtime}` : ''}) on ${r.data}, ${r.split} split`];
  if (r.retrieval) {
    const t = r.retrieval;
    lines.push(
      `retrieval: ${t.images} images, ${t.texts} texts, ITM rerank of the top ${t.k}`,
      `  TR@1/5/10 ${f(t.recall[1]!)} / ${f(t.recall[5]!)} / ${f(t.recall[10]!)}   IR@1/5/10 ${f(t.imageRecall[1]!)} / ${f(t.imageRecall[5]!)} / ${f(t.imageRecall[10]!)}   mean ${f(t.mean)}`,
    );
    if (t.itc) lines.push(`  ITC alone (no rerank): TR@1 ${f(t.itc.recall[1]!)}   IR@1 ${f(t.itc.imageRecall[1]!)}   mean ${f(t.itc.mean)}`);
  }
  if (r.caption) {
    const l = r.caption.lengths;
    lines.push(`caption: ${r.caption.images} images  BLEU-4 ${f(r.caption.bleu4)}  CIDEr ${f(r.caption.cider)}  (prompt ${JSON.stringify(r.caption.prompt)}, lengths ${l.minLength}-${l.maxLength} with [DEC] and prompt, from ${l.from})`);
    for (const s of r.caption.samples.slice(0, 3)) lines.push(`  ${s.image.split('/').pop()}: ${s.caption}`);
  }
  if (r.vqa) {
    const types = Object.entries(r.vqa.perAnswerType).map(([k, v]) => `${k} ${f(v)}`).join(', ');
    lines.push(`vqa: ${r.vqa.questions} questions  accuracy ${f(r.vqa.accuracy)}${types ? `  (${types})` : ''}`);
  }
  lines.push(`time: ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}`);
  return lines.join('\n');
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('score a model on retrieval (Recall@K), captioning (BLEU-4, CIDEr-D) and VQA (accuracy)')
    .requiredOption('--model <dir|name>', 'model folder (dlip checkpoint or Hugging Face BLIP folder) or Hugging Face name (owner/name[@revision])')
    .option('--data <dataset.json>', 'dataset manifest; default: the built-in world')
    .addOption(onBadSampleOption())
    .option('--world <size>', 'built-in world size when --data is absent (default small)')
    .option('--split <name>', 'train, val or test (default test)')
    .option('--tasks <list>', `comma-separated: ${TASKS.join(', ')} (default: what the model can do)`, tasks)
    .option('--k <n>', `retrieval: candidates reranked with ITM per query (default: the dataset's retrievalK, else ${BLIP_RETRIEVAL_K} as BLIP on COCO)`, positiveInt)
    .option('--itm-first-token <token>', 'retrieval: first text token of the ITM rerank, enc (BLIP, as dlip trains) or cls (the Hugging Face port) (default enc)', itmFirstToken)
    .option('--beams <n>', 'captioning: beam width (default 3)', positiveInt)
    .option('--prompt <text>', 'captioning: text after [DEC] that the caption continues, not scored (default: the prompt the model was trained with, from its dlip.json: "" after dlip pretrain and distill, "a picture of " after caption fine-tuning; else "a picture of ", as BLIP)')
    .option('--max-length <n>', "captioning: longest sequence in tokens, [DEC] and prompt included as BLIP counts (default: the dataset's, else 20)", positiveInt)
    .option('--min-length <n>', "captioning: EOS blocked until the sequence has n tokens, counted likewise (default: the dataset's, else 5)", nonNegativeInt)
    .option('--limit <n>', 'evaluate only the first n images or questions', positiveInt)
    .option('--batch-size <n>', 'images per forward (default 32)', positiveInt)
    .addOption(new Option('--runtime <name>', 'tfjs: the TypeScript model (default); onnx: its ONNX graphs (exported in memory) run by onnxruntime-node').choices(['tfjs', 'onnx']))
    .addOption(new Option('--quantize <kind>', 'with --runtime onnx: int8 linear weights, activations quantised at run time').choices(['int8']))
    .option('--json', 'print the report as JSON')
    .option('--out <file>', 'also write the JSON report to this file')
    .option('--results <prefix>', 'write <prefix>caption_results.json (COCO format) and <prefix>vqa_results.json (VQA format)')
    .action(async (o: { model: string; data?: string; world?: 'tiny' | 'small' | 'large'; split?: 'train' | 'val' | 'test'; tasks?: Task[]; k?: number; itmFirstToken?: 'enc' | 'cls'; beams?: number; prompt?: string; maxLength?: number; minLength?: number; limit?: number; batchSize?: number; onBadSample?: OnBadSample; runtime?: 'tfjs' | 'onnx'; quantize?: 'int8'; json?: boolean; out?: string; results?: string }) => {
      if (o.quantize && o.runtime !== 'onnx') throw new InvalidArgumentError('--quantize int8 needs --runtime onnx');
      const { readManifest, readModelConfig, resolveModelPath } = await import('../../io/checkpoint.js');
      const dir = await resolveModelPath(o.model); // a hub name is fetched here; evaluateModel then finds it cached
      const architecture = (await readManifest(dir))?.architecture ?? (await readModelConfig(dir)).architectures?.[0];
      const defaults: Record<string, Task[]> = {
        BlipForImageTextRetrieval: ['retrieval'],
        BlipForConditionalGeneration: ['caption'],
        BlipForQuestionAnswering: ['vqa'],
        BlipForPreTraining: ['retrieval', 'caption'],
      };
      const bar = new cliProgress.SingleBar({ format: 'eval {task} [{bar}] {value}/{total} | ETA {eta_formatted}', stream: process.stderr, noTTYOutput: false }, cliProgress.Presets.shades_classic);
      let current: Task | undefined;
      const report = await evaluateModel(o.model, {
        data: o.data,
        world: o.world,
        split: o.split,
        tasks: o.tasks ?? defaults[architecture ?? ''] ?? ['retrieval'],
        k: o.k,
        itmFirstToken: o.itmFirstToken,
        numBeams: o.beams,
        prompt: o.prompt,
        maxLength: o.maxLength,
        minLength: o.minLength,
        limit: o.limit,
        batchSize: o.batchSize,
        onBadSample: o.onBadSample,
        runtime: o.runtime,
        quantize: o.quantize,
        onProgress: (task, done, total) => {
          if (!process.stderr.isTTY) return;
          if (task !== current) {
            if (current) bar.stop();
            bar.start(total, done, { task });
            current = task;
          } else bar.update(done);
        },
      }).finally(() => current && bar.stop());
      if (o.out) await writeJsonAtomic(o.out, report);
      if (o.results && report.caption) await writeJsonAtomic(`${o.results}caption_results.json`, report.caption.results);
      if (o.results && report.vqa) await writeJsonAtomic(`${o.results}vqa_results.json`, report.vqa.results);
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${render(report)}\n`);
    });
}
