import { Option } from 'commander';
import type { Command } from 'commander';
import { captionPromptOf, loadModel, saveModel } from '../../io/checkpoint.js';
import type { WrittenDType } from '../../io/safetensors.js';
import { millions } from '../format.js';
import { exportOnnx } from '../../onnx/export.js';
import { GRAPH_NAMES } from '../../onnx/graphs.js';
import type { GraphName } from '../../onnx/graphs.js';

export function registerExport(program: Command): void {
  const exporter = program.command('export').description('write a model in another form: its weights (F32 or F16), or ONNX graphs');
  exporter
    .command('weights')
    .description('copy a model folder, shipped model or Hugging Face name to a dlip model folder, optionally in F16 (half the bytes)')
    .requiredOption('--model <dir|name>', 'model folder, shipped model (e.g. tiny-teacher) or Hugging Face name (owner/name[@revision])')
    .requiredOption('--out <dir>', 'folder to write config.json, model.safetensors and dlip.json to')
    .addOption(new Option('--dtype <dtype>', 'stored precision: f32 as trained, or f16 (values rounded to the nearest half; ~1e-3 relative)').choices(['f32', 'f16']).default('f32'))
    .action(async (opts: { model: string; out: string; dtype: 'f32' | 'f16' }) => {
      const { model, manifest: source } = await loadModel(opts.model);
      try {
        const manifest = await saveModel(model, opts.out, { dtype: opts.dtype.toUpperCase() as WrittenDType, captionPrompt: source?.captionPrompt });
        process.stdout.write(`${opts.out}: ${manifest.architecture}, ${millions(manifest.parameters)} parameters in ${opts.dtype.toUpperCase()}, sha256 ${manifest.sha256.slice(0, 16)}…\n`);
      } finally {
        model.dispose();
      }
    });
  exporter
    .command('onnx')
    .description('write ONNX graphs (opset 17, dynamic batch and sequence axes) of every part the model has, with its tokenizer files and onnx_config.json (names and shapes: docs/onnx.md)')
    .requiredOption('--model <dir|name>', 'model folder, shipped model (e.g. tiny-teacher) or Hugging Face name (owner/name[@revision])')
    .requiredOption('--out <dir>', 'folder to write the .onnx graphs, tokenizer.json, vocab.txt, config.json and onnx_config.json to')
    .addOption(new Option('--quantize <kind>', 'int8: linear weights int8 per output channel, activations quantised at run time (dynamic)').choices(['int8']))
    .addOption(new Option('--graphs <names...>', 'only these graphs (default: all the model has)').choices([...GRAPH_NAMES]))
    .action(async (opts: { model: string; out: string; quantize?: 'int8'; graphs?: GraphName[] }) => {
      const { model, manifest: source } = await loadModel(opts.model);
      try {
        const manifest = await exportOnnx(model, opts.out, {
          captionPrompt: captionPromptOf(source),
          quantize: opts.quantize,
          graphs: opts.graphs,
          onGraph: (name, bytes) => process.stdout.write(`${opts.out}/${name}.onnx: ${(bytes / 2 ** 20).toFixed(1)} MiB\n`),
        });
        process.stdout.write(`${opts.out}: ${manifest.architecture}, ${Object.keys(manifest.graphs).length} graphs (${manifest.weights}), opset ${manifest.opset}, with tokenizer.json and onnx_config.json\n`);
      } finally {
        model.dispose();
      }
    });
}
