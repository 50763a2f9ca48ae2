// `dlip export onnx`: a model folder → ONNX graphs + everything a consumer needs beside them (the
// tokenizer files, the model config, and onnx_config.json naming each graph's inputs and outputs and
// how to prepare them), so another runtime needs nothing from dlip.
import { copyFile, mkdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { BLIP_MEAN, BLIP_STD } from '../data/image.js';
import { BLIP_CAPTION_PROMPT, BLIP_GENERATION_LENGTHS } from '../data/caption-lengths.js';
import { blipTokenizerFiles, CLS_ID, DEC_ID, defaultVocabPath, ENC_ID, PAD_ID, SEP_ID } from '../data/tokenizer.js';
import type { BlipModel } from '../models/blip.js';
import { readPackageVersion } from '../version.js';
import { OPSET } from './graph.js';
import type { ValueSpec } from './graph.js';
import { buildGraphs } from './graphs.js';
import type { GraphName } from './graphs.js';
import type { LinearMode } from './layers.js';

export const ONNX_CONFIG_FILE = 'onnx_config.json';

export interface OnnxGraphEntry {
  file: string;
  bytes: number;
  sha256: string;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
}

export interface OnnxManifest {
  format: 'dlip-onnx';
  version: 1;
  dlip: string;
  architecture: string;
  opset: number;
  /** 'float': fp32 throughout; 'int8': linear weights int8 per output channel, activations quantised at run time. */
  weights: LinearMode;
  image: { size: number; mean: readonly number[]; std: readonly number[]; resize: 'bicubic'; layout: 'NCHW' };
  text: {
    tokenizer: string;
    maxPositions: number;
    padTokenId: number;
    clsTokenId: number;
    sepTokenId: number;
    decTokenId: number;
    encTokenId: number;
    /** First token by use: [CLS] for the text encoder, [ENC] for ITM and questions, [DEC] for decoders. */
    firstToken: Record<'text_encoder' | 'itm' | 'question_encoder' | 'decoder', number>;
  };
  caption: { prompt: string; maxLength: number; minLength: number; numBeams: number; eosTokenId: number };
  graphs: Partial<Record<GraphName, OnnxGraphEntry>>;
}

export interface OnnxExportOptions {
  quantize?: 'int8';
  /** Only these graphs (default: every graph the architecture has). */
  graphs?: readonly GraphName[];
  onGraph?: (name: GraphName, bytes: number) => void;
  /** The caption prompt onnx_config.json states (default BLIP's "a picture of "): the model's dlip.json captionPrompt. */
  captionPrompt?: string;
}

/** Writes `model` as ONNX graphs into `outDir`; returns the manifest it wrote. */
export async function exportOnnx(model: BlipModel, outDir: string, options: OnnxExportOptions = {}): Promise<OnnxManifest> {
  await mkdir(outDir, { recursive: true });
  const mode: LinearMode = options.quantize === 'int8' ? 'int8' : 'float';
  const graphs: OnnxManifest['graphs'] = {};
  for (const [name, build] of buildGraphs(model, mode, options.graphs)) {
    const graph = build();
    const bytes = graph.encode(`dlip ${name} of a ${model.architecture}${mode === 'int8' ? ' (int8 linear weights)' : ''}; see onnx_config.json`, {
      architecture: model.architecture,
      graph: name,
    });
    const file = `${name}.onnx`;
    await writeFileAtomic(join(outDir, file), bytes);
    graphs[name] = { file, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), ...graph.signature() };
    options.onGraph?.(name, bytes.byteLength);
  }
  const { tokenizer, config } = blipTokenizerFiles();
  await writeJsonAtomic(join(outDir, 'tokenizer.json'), tokenizer);
  await writeJsonAtomic(join(outDir, 'tokenizer_config.json'), config);
  await copyFile(defaultVocabPath(), join(outDir, 'vocab.txt'));
  await writeJsonAtomic(join(outDir, 'config.json'), { ...model.config, architectures: [model.architecture] });
  const t = model.config.text_config;
  const manifest: OnnxManifest = {
    format: 'dlip-onnx',
    version: 1,
    dlip: readPackageVersion(),
    architecture: model.architecture,
    opset: OPSET,
    weights: mode,
    image: { size: model.config.vision_config.image_size, mean: BLIP_MEAN, std: BLIP_STD, resize: 'bicubic', layout: 'NCHW' },
    text: {
      tokenizer: 'tokenizer.json',
      maxPositions: t.max_position_embeddings,
      padTokenId: PAD_ID,
      clsTokenId: CLS_ID,
      sepTokenId: SEP_ID,
      decTokenId: DEC_ID,
      encTokenId: ENC_ID,
      firstToken: { text_encoder: CLS_ID, itm: ENC_ID, question_encoder: ENC_ID, decoder: DEC_ID },
    },
    caption: { prompt: options.captionPrompt ?? BLIP_CAPTION_PROMPT, ...BLIP_GENERATION_LENGTHS, numBeams: 3, eosTokenId: SEP_ID },
    graphs,
  };
  await writeJsonAtomic(join(outDir, ONNX_CONFIG_FILE), manifest);
  return manifest;
}
