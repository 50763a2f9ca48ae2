// What `dlip serve` can be told, with its defaults. The CLI parses flags into this; code calls
// startServer() with it directly.
import type { Runtime } from './protocol.js';

export interface ServeOptions {
  /** Model folder, shipped model name or Hugging Face name. */
  model: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  backend?: string;
  /** tfjs (the TypeScript model) or onnx (its graphs in onnxruntime-node, optionally int8); kept across hot swaps. */
  runtime: Runtime;
  /** Gallery folder; no gallery endpoints without one. */
  gallery?: string;
  /** Required for anything but loopback; compared in constant time. */
  apiKey?: string;
  /** Items per model batch. */
  maxBatch: number;
  /** How long the first item of a batch may wait for others. */
  maxWaitMs: number;
  /** Items waiting for the model at most; more get 503 with Retry-After. */
  queueLimit: number;
  /** Per-request time limit in the queue and the model (503 after it). */
  timeoutMs: number;
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Largest image in pixels (width × height). */
  maxPixels: number;
  /** Longest text in characters. */
  maxTextChars: number;
  /** Most texts in one request. */
  maxTexts: number;
  /** Most candidates an ITM rerank scores. */
  maxRerank: number;
  /** How long SIGTERM waits for requests in flight. */
  drainTimeoutMs: number;
  /** Gallery log records before compaction. */
  compactAfter: number;
  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  logLevel: string;
}

export const SERVE_DEFAULTS: Omit<ServeOptions, 'model'> = {
  host: '127.0.0.1',
  port: 8080,
  runtime: { engine: 'tfjs' },
  maxBatch: 16,
  maxWaitMs: 5,
  queueLimit: 256,
  timeoutMs: 30_000,
  bodyLimit: 10 * 1024 * 1024,
  maxPixels: 25_000_000,
  maxTextChars: 1000,
  maxTexts: 256,
  maxRerank: 64,
  drainTimeoutMs: 30_000,
  compactAfter: 10_000,
  logLevel: 'info',
};
