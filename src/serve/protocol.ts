// What the HTTP side and the model worker say to each other. Images travel as the bytes the client
// sent (the worker decodes them at its model's resolution), so a queued request stays valid across
// a hot swap to a model with another image size.

/** What a served model can do, from its architecture. */
export type Capability = 'embed' | 'itm' | 'caption' | 'vqa';

/**
 * What runs the forward passes: the TypeScript model in TensorFlow.js, or its graphs (exported in
 * memory at load) in onnxruntime-node, optionally with int8 linear weights.
 */
export interface Runtime {
  engine: 'tfjs' | 'onnx';
  quantize?: 'int8';
}

/** How a runtime is named to users (model info, logs, metrics): tfjs, onnx or onnx int8, as `dlip eval` reports it. */
export const runtimeLabel = (r: Runtime): string => (r.engine === 'onnx' && r.quantize ? `onnx ${r.quantize}` : r.engine);

export interface ModelInfo {
  /** What the user named (folder, shipped name or hub name). */
  spec: string;
  /** The folder it was read from. */
  dir: string;
  architecture: string;
  /** First 12 hex digits of the sha256 of the weights: what the gallery's embeddings belong to. */
  version: string;
  parameters: number;
  imageSize: number;
  /** Width of the ITC embeddings; 0 when the model has no projections. */
  embeddingDim: number;
  capabilities: Capability[];
  /** runtimeLabel of what runs it. */
  runtime: string;
  /** /v1/caption's default prompt: the model's dlip.json captionPrompt, else BLIP's "a picture of ". */
  captionPrompt: string;
  /** Seconds to load and to warm up. */
  loadSeconds: number;
  warmupSeconds: number;
}

export interface GenerationParams {
  beams: number;
  maxLength: number;
  minLength: number;
  /** Caption only: text placed after [DEC], not part of the output. */
  prompt: string;
}

/** One unit of work per kind; a batch holds items of one kind (and one set of generation params). */
export type Job =
  | { kind: 'image-embed'; items: Uint8Array[] }
  | { kind: 'text-embed'; items: string[] }
  | { kind: 'caption'; items: Uint8Array[]; params: GenerationParams }
  | { kind: 'vqa'; items: { image: Uint8Array; question: string }[]; params: GenerationParams }
  | { kind: 'itm'; items: { image: Uint8Array; texts: string[] }[] }
  /** VQA by ranking a closed list of candidate answers (BLIP's rank_answer), shared by the batch. */
  | { kind: 'vqa-rank'; items: { image: Uint8Array; question: string }[]; answers: string[] };

export type JobKind = Job['kind'];

/** Per-item outcome: an item that fails (an undecodable image) fails alone, its batch goes on. */
export type ItemResult<T> = { ok: true; value: T } | { ok: false; status: number; code: string; message: string };

export interface JobValues {
  'image-embed': Float32Array;
  'text-embed': Float32Array;
  caption: string;
  vqa: string;
  /** Index of the chosen candidate and its sequence score. */
  'vqa-rank': { index: number; score: number };
  /** ITM logits [no-match, match] per text. */
  itm: [number, number][];
}

export type ToWorker =
  | { type: 'load'; spec: string; runtime: Runtime }
  | { type: 'run'; id: number; job: Job }
  /** Dispose of the model (onnxruntime's sessions live in a thread of their own) before the thread is ended. */
  | { type: 'close' };

export type FromWorker =
  | { type: 'loaded'; info: ModelInfo }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; results: ItemResult<unknown>[]; seconds: number }
  | { type: 'job-failed'; id: number; message: string }
  | { type: 'closed' };
