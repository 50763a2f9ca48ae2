// Model folders: the Hugging Face layout (config.json + model.safetensors, or shards listed in
// model.safetensors.index.json), which is also what dlip writes, plus a dlip.json manifest that
// records the architecture, the tensor file's sha256 and the dlip version. Models named on the
// Hugging Face hub are fetched into the Hugging Face cache and loaded from there (io/hub.ts).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { BLIP_CAPTION_PROMPT } from '../data/caption-lengths.js';
import { canCaption } from '../eval/model-kinds.js';
import { createModel } from '../models/blip.js';
import type { BlipModel } from '../models/blip.js';
import { ARCHITECTURES, configArchitecture, parseBlipConfig } from '../models/config.js';
import type { Architecture, BlipConfig } from '../models/config.js';
import { withImageSize } from '../models/image-size.js';
import { isPreset, listPresets } from '../models/presets.js';
import { listShippedModels, shippedModelDir } from '../models/shipped.js';
import { readPackageVersion } from '../version.js';
import { writeJsonAtomic } from './atomic.js';
import { HubSnapshot, parseHubName } from './hub.js';
import type { HubName, HubOptions } from './hub.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import type { LoadedTensor, TensorToWrite, WrittenDType } from './safetensors.js';
import { applyWeights } from './weights.js';
import type { ApplyWeightsReport } from './weights.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
export const MANIFEST_FILE = 'dlip.json';

const ManifestSchema = z.object({
  format: z.literal('dlip-checkpoint'),
  version: z.string(),
  architecture: z.enum(ARCHITECTURES),
  weights: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  parameters: z.number().int().nonnegative(),
  created: z.string(),
  /** Text after [DEC] that the caption decoder was trained to continue ("" for none); eval and serve default to it. */
  captionPrompt: z.string().optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

const IndexSchema = z.object({ weight_map: z.record(z.string(), z.string()) });

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot read (${err.code ?? err.message})`);
  });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function readModelConfig(dir: string): Promise<BlipConfig> {
  const path = join(dir, CONFIG_FILE);
  return parseBlipConfig(await readJson(path), path);
}

export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return undefined;
  const parsed = ManifestSchema.safeParse(await readJson(path));
  if (!parsed.success) throw new Error(`${path}: invalid manifest:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The tensor files of a model folder and which keys each holds (undefined: all of it). */
export async function weightFiles(dir: string): Promise<{ file: string; keys?: string[] }[]> {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) {
    const parsed = IndexSchema.safeParse(await readJson(indexPath));
    if (!parsed.success) throw new Error(`${indexPath}: invalid shard index:\n${z.prettifyError(parsed.error)}`);
    const byFile = new Map<string, string[]>();
    for (const [key, file] of Object.entries(parsed.data.weight_map)) byFile.set(file, [...(byFile.get(file) ?? []), key]);
    return [...byFile].map(([file, keys]) => ({ file: join(dir, file), keys }));
  }
  const single = join(dir, WEIGHTS_FILE);
  if (!existsSync(single)) throw new Error(`${dir}: no ${WEIGHTS_FILE} or ${INDEX_FILE} found`);
  return [{ file: single }];
}

/** Fetches what loadModel reads from a hub repo: config.json, the weights (one file or index + shards), dlip.json if any. */
async function fetchModelFiles(name: HubName, options?: HubOptions): Promise<string> {
  const snapshot = await HubSnapshot.open(name, options);
  await snapshot.require(CONFIG_FILE);
  // A cached index means a sharded repo; otherwise model.safetensors comes first, as in transformers.
  const sharded = snapshot.has(INDEX_FILE) === true || !(await snapshot.ensure(WEIGHTS_FILE));
  if (sharded) {
    if (!(await snapshot.ensure(INDEX_FILE))) throw new Error(`${snapshot.label} has no ${WEIGHTS_FILE} or ${INDEX_FILE} (dlip reads safetensors weights only)`);
    for (const { file } of await weightFiles(snapshot.dir)) await snapshot.require(relative(snapshot.dir, file));
  }
  if (!snapshot.offline) await snapshot.ensure(MANIFEST_FILE); // optional: loading checks the hash only when it exists
  return snapshot.finish();
}

/**
 * What a user names, as a local path: an existing path as given (it always wins), a preset name as
 * given when `presets` is set (a config to initialise), else a model shipped with dlip (trained
 * weights under models/), and a Hugging Face name (owner/name[@revision]) as its snapshot folder
 * in the Hugging Face cache, fetched first unless cached.
 */
export async function resolveModelPath(spec: string, options: { presets?: boolean; hub?: HubOptions } = {}): Promise<string> {
  if (existsSync(spec) || (options.presets && isPreset(spec))) return spec;
  const shipped = shippedModelDir(spec);
  if (shipped) return shipped;
  const name = parseHubName(spec);
  if (name) return fetchModelFiles(name, options.hub);
  const shippedNames = listShippedModels();
  const shippedText = shippedNames.length > 0 ? `a shipped model (${shippedNames.join(', ')}), ` : '';
  const tried = options.presets ? `a preset (${listPresets().join(', ')}), ${shippedText}an existing folder or config file,` : `${shippedText}an existing folder`;
  throw new Error(`"${spec}" is neither ${tried} nor a Hugging Face model name (owner/name[@revision])`);
}

export interface LoadModelOptions {
  /** Build this architecture instead of the one config.json names (e.g. retrieval heads of a pre-trained model). */
  architecture?: Architecture;
  /** Allow missing and unexpected keys on purpose. */
  partial?: boolean;
  /** Build the vision tower at this image side (--image-size); the position grid is resized to it. */
  imageSize?: number;
  /** Endpoint, token, offline mode, cache folder and progress for models named on the hub (default: the HF_* environment). */
  hub?: HubOptions;
}

export interface LoadedModel {
  model: BlipModel;
  config: BlipConfig;
  manifest?: Manifest;
  report: ApplyWeightsReport;
}

/** Loads a Hugging Face BLIP folder, a dlip checkpoint folder, or a model by Hugging Face name. */
export async function loadModel(spec: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const dir = await resolveModelPath(spec, { hub: options.hub });
  const config = withImageSize(await readModelConfig(dir), options.imageSize, dir);
  const manifest = await readManifest(dir);
  const architecture = options.architecture ?? manifest?.architecture ?? configArchitecture(config);
  if (!architecture) {
    throw new Error(`${join(dir, CONFIG_FILE)}: "architectures" names ${JSON.stringify(config.architectures)}; dlip builds ${ARCHITECTURES.join(', ')} (name one there; code can pass loadModel's architecture option)`);
  }
  if (manifest) {
    const actual = await sha256File(join(dir, manifest.weights));
    if (actual !== manifest.sha256) throw new Error(`${join(dir, manifest.weights)}: sha256 ${actual} does not match the manifest (${manifest.sha256}); the file is corrupt or was replaced`);
  }
  const tensors = new Map<string, LoadedTensor>();
  for (const { file, keys } of await weightFiles(dir)) {
    for (const [k, v] of await readSafetensors(file, keys)) tensors.set(k, v);
  }
  const model = createModel(config, architecture);
  try {
    const report = applyWeights(model, tensors, { partial: options.partial, source: dir });
    return { model, config, manifest, report };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** The tensors to save: every parameter under its key, plus HF's alias keys. */
function stateDict(model: BlipModel): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  const params = model.namedParameters();
  for (const [name, p] of params) out.set(name, { shape: [...p.shape], data: () => p.value.dataSync() as Float32Array });
  for (const [alias, name] of model.namedAliases()) out.set(alias, out.get(name)!);
  return out;
}

/** The prompt a model's captions continue: what its dlip.json records, else BLIP's "a picture of ". */
export function captionPromptOf(manifest: Manifest | undefined): string {
  return manifest?.captionPrompt ?? BLIP_CAPTION_PROMPT;
}

/**
 * Saves config.json, model.safetensors (F32, or F16 for half the bytes) and dlip.json with its
 * sha256, each atomically; the manifest goes last, so a folder with a manifest whose hash matches is
 * complete. `captionPrompt` is recorded for a model with a caption decoder.
 */
export async function saveModel(model: BlipModel, dir: string, options: { dtype?: WrittenDType; captionPrompt?: string } = {}): Promise<Manifest> {
  await mkdir(dir, { recursive: true });
  const weightsPath = join(dir, WEIGHTS_FILE);
  await writeSafetensors(weightsPath, stateDict(model), { format: 'pt' }, options.dtype);
  await writeJsonAtomic(join(dir, CONFIG_FILE), { ...model.config, architectures: [model.architecture] });
  const manifest: Manifest = {
    format: 'dlip-checkpoint',
    version: readPackageVersion(),
    architecture: model.architecture,
    weights: WEIGHTS_FILE,
    sha256: await sha256File(weightsPath),
    parameters: model.parameterCount(),
    created: new Date().toISOString(),
    ...(options.captionPrompt !== undefined && canCaption(model) && { captionPrompt: options.captionPrompt }),
  };
  await writeJsonAtomic(join(dir, MANIFEST_FILE), manifest);
  return manifest;
}
