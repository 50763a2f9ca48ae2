// Tiny real models saved as folders, test images, and servers on loopback for the serving tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../../src/engine/backend.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { createModel } from '../../src/models/blip.js';
import type { Architecture } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { SERVE_DEFAULTS, startServer } from '../../src/serve/index.js';
import type { RunningServer, ServeOptions } from '../../src/serve/index.js';
import { tinyConfig } from '../helpers/tiny.js';

export const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `dlip-serve-${prefix}-`));

/**
 * A tiny model (width 8, 2 layers) with BLIP's full vocabulary, so the real tokenizer drives it,
 * saved as a dlip folder. `poison` writes NaN into one weight: it loads, but fails warm-up.
 */
export async function tinyModel(architecture: Architecture = 'BlipForPreTraining', seed = 0, options: { poison?: boolean; imageSize?: number; captionPrompt?: string } = {}): Promise<string> {
  await initBackend('cpu');
  const model = createModel(tinyConfig({ vocab: 30524, positions: 40, imageSize: options.imageSize ?? 16 }), architecture);
  initParameters(model, seed);
  if (options.poison) {
    const p = model.namedParameters().get('vision_model.post_layernorm.weight')!;
    p.assign(new Float32Array(p.size).fill(Number.NaN));
  }
  const dir = tmp('model');
  await saveModel(model, dir, { captionPrompt: options.captionPrompt });
  model.dispose();
  return dir;
}

export function png(r: number, g: number, b: number, size = 24): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

export async function serve(model: string, options: Partial<ServeOptions> = {}): Promise<RunningServer> {
  return startServer({ ...SERVE_DEFAULTS, model, port: 0, logLevel: 'silent', ...options });
}

/** fetch + JSON of the answer, with its status and headers. */
export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // metrics and other text answers stay text
  }
  return { status: res.status, body, headers: res.headers };
}

/** A copy fetch and Blob accept as a body (a Buffer may view a SharedArrayBuffer). */
export const bytes = (b: Buffer) => new Uint8Array(b);

export const postImage = (url: string, image: Buffer, type = 'image/png') => call(url, { method: 'POST', headers: { 'content-type': type }, body: bytes(image) });

export const postJson = (url: string, value: unknown, headers: Record<string, string> = {}) =>
  call(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) });

export function form(fields: Record<string, string | string[]>, image?: Buffer, type = 'image/png'): FormData {
  const f = new FormData();
  if (image) f.append('image', new Blob([bytes(image)], { type }), 'image');
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) f.append(k, x);
  return f;
}
