// `dlip inspect`: what a preset or a model folder is, what it costs per task, and which weights it holds.
import { readHeader } from './io/safetensors.js';
import { readManifest, weightFiles } from './io/checkpoint.js';
import type { Manifest } from './io/checkpoint.js';
import { createModel } from './models/blip.js';
import { configArchitecture } from './models/config.js';
import type { BlipConfig } from './models/config.js';
import { resolveConfig } from './models/resolve.js';
import { modelCost } from './eval/cost.js';
import type { ModelCost } from './eval/cost.js';

export interface StoredWeights {
  files: number;
  tensors: number;
  values: number;
  dtypes: Record<string, number>;
  keysByModule: Record<string, number>;
  /** Against the architecture named in config.json. */
  missing: string[];
  unexpected: string[];
}

export interface InspectReport {
  source: string;
  kind: 'preset' | 'folder' | 'file';
  config: BlipConfig;
  manifest?: Manifest;
  cost: ModelCost;
  weights?: StoredWeights;
}

async function storedWeights(dir: string, config: BlipConfig): Promise<StoredWeights> {
  const files = await weightFiles(dir);
  const stored: StoredWeights = { files: files.length, tensors: 0, values: 0, dtypes: {}, keysByModule: {}, missing: [], unexpected: [] };
  const keys = new Set<string>();
  for (const { file } of files) {
    for (const entry of (await readHeader(file)).entries.values()) {
      keys.add(entry.name);
      stored.tensors++;
      stored.values += entry.shape.reduce((a, b) => a * b, 1);
      stored.dtypes[entry.dtype] = (stored.dtypes[entry.dtype] ?? 0) + 1;
      const top = entry.name.split('.')[0]!;
      stored.keysByModule[top] = (stored.keysByModule[top] ?? 0) + 1;
    }
  }
  const architecture = configArchitecture(config);
  if (architecture) {
    const model = createModel(config, architecture);
    const expected = new Set([...model.namedParameters().keys(), ...model.namedAliases().keys()]);
    stored.missing = [...model.namedParameters().keys()].filter((k) => !keys.has(k));
    stored.unexpected = [...keys].filter((k) => !expected.has(k));
  }
  return stored;
}

export async function inspect(spec: string): Promise<InspectReport> {
  const { config, kind, source } = resolveConfig(spec);
  const report: InspectReport = { source, kind, config, cost: modelCost(config) };
  if (kind === 'folder') {
    report.manifest = await readManifest(spec);
    report.weights = await storedWeights(spec, config);
  }
  return report;
}
