import type { Command } from 'commander';
import { inspect } from '../../inspect.js';
import type { InspectReport } from '../../inspect.js';
import { resolveModelPath } from '../../io/checkpoint.js';
import { gflops, millions, table } from '../format.js';

/** A model named on the hub is inspected in the Hugging Face cache folder it was fetched to. */
type Shown = InspectReport & { snapshot?: string };

function render(r: Shown): string {
  const v = r.config.vision_config;
  const t = r.config.text_config;
  const lines = [
    `${r.source} (${r.snapshot ? `Hugging Face hub, cached in ${r.snapshot}` : r.kind})`,
    `  vision: ViT width ${v.hidden_size}, ${v.num_hidden_layers} layers, ${v.num_attention_heads} heads, MLP ${v.intermediate_size}, ${v.image_size} px, patch ${v.patch_size}`,
    `  text:   width ${t.hidden_size}, ${t.num_hidden_layers} layers, ${t.num_attention_heads} heads, FFN ${t.intermediate_size}, vocab ${t.vocab_size}, ${t.max_position_embeddings} positions`,
    `  ITC projection: ${r.config.image_text_hidden_size}`,
    '',
    `Cost per task (FLOPs of one example at ${r.cost.imageSize} px; text ${r.cost.textLengths.text}, caption ${r.cost.textLengths.caption}, answer ${r.cost.textLengths.answer} tokens):`,
  ];
  const modules = [...new Set(r.cost.tasks.flatMap((task) => Object.keys(task.parametersByModule)))];
  const rows = [['task', 'parameters', 'FLOPs', ...modules]];
  for (const task of r.cost.tasks) {
    rows.push([task.architecture, millions(task.parameters), gflops(task.flops), ...modules.map((m) => (task.parametersByModule[m] ? millions(task.parametersByModule[m]!) : '-'))]);
  }
  lines.push(table(rows).replace(/^/gm, '  '));
  if (r.manifest) lines.push('', `Checkpoint: ${r.manifest.architecture}, dlip ${r.manifest.version}, ${r.manifest.created}, sha256 ${r.manifest.sha256.slice(0, 16)}…`);
  if (r.weights) {
    const w = r.weights;
    lines.push(
      '',
      `Stored weights: ${w.tensors} tensors in ${w.files} file(s), ${millions(w.values)} values, dtypes ${Object.entries(w.dtypes).map(([d, n]) => `${d}×${n}`).join(' ')}`,
      `  keys by module: ${Object.entries(w.keysByModule).map(([m, n]) => `${m} ${n}`).join(', ')}`,
      `  against config.json's architecture: ${w.missing.length} missing, ${w.unexpected.length} unexpected`,
      ...w.missing.slice(0, 10).map((k) => `    missing ${k}`),
      ...w.unexpected.slice(0, 10).map((k) => `    unexpected ${k}`),
    );
  }
  return lines.join('\n');
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show a preset, model folder or Hugging Face model: sizes, parameters per module, FLOPs per task, stored keys')
    .argument('<model>', 'a preset name (see `dlip presets`), a model folder (config.json + model.safetensors) or a Hugging Face name (owner/name[@revision])')
    .option('--json', 'print the report as JSON')
    .action(async (spec: string, opts: { json?: boolean }) => {
      const path = await resolveModelPath(spec, { presets: true });
      const report: Shown = path === spec ? await inspect(spec) : { ...(await inspect(path)), source: spec, snapshot: path };
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${render(report)}\n`);
    });
  program
    .command('presets')
    .description('list the shipped model presets')
    .action(async () => {
      const { listPresets, loadPreset } = await import('../../models/presets.js');
      for (const name of listPresets()) {
        const desc = (loadPreset(name) as { dlip_description?: string }).dlip_description ?? '';
        process.stdout.write(`${name.padEnd(14)} ${desc}\n`);
      }
    });
}
