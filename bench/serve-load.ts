// Load test of `dlip serve` on loopback with autocannon: p50/p99 latency and throughput at several
// concurrencies, teacher vs student, for image embeddings and captions (BLIP's beam search 3, 16 new
// tokens after "a picture of "); then gallery search at 100k
// entries (the brute-force scan alone, and the whole HTTP path). Every run is bounded in time
// (--seconds) and in requests (--max-requests); non-2xx answers are counted and fail the run.
// The server runs as a child process (`dlip serve`), so the load generator does not share its event loop.
// The student is the tiny-student preset with random weights (latency does not depend on the weights).
//   node dist/bench/serve-load.js [--models tiny-teacher,tiny-student] [--endpoints embed,caption]
//     [--concurrency 1,8,32] [--seconds 8] [--max-requests 5000] [--gallery 100000] [--only load,gallery]
//     [--max-batch 16] [--out serve-load.json]
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { initBackend } from '../src/engine/backend.js';
import { renderScenePng, generateScene, Rng, WorldConfigSchema } from '../src/data/index.js';
import { saveModel } from '../src/io/checkpoint.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { createModel } from '../src/models/blip.js';
import { loadPreset } from '../src/models/presets.js';
import { shippedModelDir } from '../src/models/shipped.js';
import { initParameters } from '../src/nn/init.js';
import { encodeRecord } from '../src/serve/gallery/records.js';
import { VectorIndex } from '../src/serve/gallery/vector-index.js';
import { median } from './util.js';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string' }, endpoints: { type: 'string' }, concurrency: { type: 'string' }, seconds: { type: 'string' },
    'max-requests': { type: 'string' }, gallery: { type: 'string' }, only: { type: 'string' }, out: { type: 'string' },
    'max-batch': { type: 'string' },
  },
  strict: true,
});
const list = (raw: string | undefined, fallback: string) => (raw ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
const models = list(args.models, 'tiny-teacher,tiny-student');
const endpoints = list(args.endpoints, 'embed,caption');
const concurrencies = list(args.concurrency, '1,8,32').map(Number);
const seconds = Number(args.seconds ?? 8);
const maxRequests = Number(args['max-requests'] ?? 5000);
const galleryEntries = Number(args.gallery ?? 100_000);
const only = list(args.only, 'load,gallery');
const BIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const results: Record<string, unknown>[] = [];

/** A shipped model by name, or a preset with random weights saved as BlipForPreTraining (every endpoint). */
async function modelDir(name: string): Promise<string> {
  const shipped = shippedModelDir(name);
  if (shipped) return shipped;
  await initBackend();
  const model = createModel(loadPreset(name), 'BlipForPreTraining');
  initParameters(model, 0);
  const dir = mkdtempSync(join(tmpdir(), `serve-load-${name}-`));
  await saveModel(model, dir);
  model.dispose();
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startServer(model: string, extra: string[] = []): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, 'serve', '--model', model, '--port', String(port), '--log-level', 'warn', ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`dlip serve ${model} exited with ${proc.exitCode}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { proc, url };
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.on('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** Mean items per batch over a run, from the server's own metrics. */
async function batchCounts(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  let count = 0;
  for (const m of text.matchAll(/dlip_batch_size_(sum|count)\{kind="[^"]+"\} ([\d.e+]+)/g)) {
    if (m[1] === 'sum') sum += Number(m[2]);
    else count += Number(m[2]);
  }
  return { sum, count };
}

async function cannon(url: string, path: string, body: Buffer | string, type: string, connections: number, duration: number, cap: number) {
  const before = await batchCounts(url);
  const r = await autocannon({ url: `${url}${path}`, method: 'POST', headers: { 'content-type': type }, body, connections, duration, maxOverallRequests: Math.max(cap, connections) });
  const after = await batchCounts(url);
  const batches = after.count - before.count;
  return {
    requests: r.requests.total,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    throughput_rps: r.requests.total / (r.duration || duration),
    non2xx: r.non2xx + r.errors + r.timeouts,
    mean_batch: batches > 0 ? (after.sum - before.sum) / batches : 0,
  };
}

async function load(): Promise<void> {
  const world = WorldConfigSchema.parse({});
  const image = await renderScenePng(generateScene(new Rng(7), world), world, new Rng(8));
  // Captions decode exactly 16 new tokens (min = max length), so random weights cost what trained ones do.
  const paths: Record<string, string> = { embed: '/v1/embeddings/image', caption: '/v1/caption?min_length=20&max_length=20' };
  for (const name of models) {
    const dir = await modelDir(name);
    const { proc, url } = await startServer(dir, args['max-batch'] ? ['--max-batch', args['max-batch']] : []);
    try {
      for (const endpoint of endpoints) {
        await cannon(url, paths[endpoint]!, image, 'image/png', 1, 1, 20); // warm-up
        for (const c of concurrencies) {
          const r = await cannon(url, paths[endpoint]!, image, 'image/png', c, seconds, maxRequests);
          const row = { bench: 'load', model: name, endpoint, concurrency: c, max_batch: Number(args['max-batch'] ?? 16), ...r };
          results.push(row);
          console.log(JSON.stringify(row));
          if (r.non2xx > 0) throw new Error(`${name} ${endpoint} c=${c}: ${r.non2xx} failed requests`);
        }
      }
    } finally {
      await stop(proc);
    }
  }
}

function unitVectors(n: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += (data[i * dim + j] = rng.uniform(-1, 1)) ** 2;
    for (let j = 0; j < dim; j++) data[i * dim + j]! /= Math.sqrt(norm);
  }
  return data;
}

async function gallery(): Promise<void> {
  const n = galleryEntries;
  for (const dim of [128, 256]) {
    const vectors = unitVectors(n, dim, dim);
    const index = new VectorIndex(dim, n);
    for (let i = 0; i < n; i++) index.set(`e${i}`, vectors.subarray(i * dim, (i + 1) * dim));
    const queries = unitVectors(20, dim, 99);
    const times: number[] = [];
    for (let q = 0; q < 20; q++) {
      const started = performance.now();
      index.search(queries.subarray(q * dim, (q + 1) * dim), 10);
      times.push(performance.now() - started);
    }
    const row = { bench: 'gallery-scan', entries: n, dim, k: 10, median_ms: median(times.slice(2)), memory_mb: (n * dim * 4) / 2 ** 20 };
    results.push(row);
    console.log(JSON.stringify(row));
  }
  // The whole path: a 100k-entry gallery snapshot for tiny-teacher, text queries over HTTP.
  const teacher = shippedModelDir('tiny-teacher')!;
  const version = (JSON.parse(readFileSync(join(teacher, 'dlip.json'), 'utf8')) as { sha256: string }).sha256.slice(0, 12);
  const dir = mkdtempSync(join(tmpdir(), 'serve-load-gallery-'));
  mkdirSync(join(dir, 'images'));
  const dim = 128;
  const vectors = unitVectors(n, dim, 5);
  const frames: Buffer[] = [Buffer.from('DLIPGAL1'), encodeRecord({ op: 'snapshot', generation: 1 })];
  for (let i = 0; i < n; i++) {
    frames.push(encodeRecord({ op: 'add', id: `e${i}`, version, file: `none-${i}`, meta: {}, added: 0, vector: vectors.slice(i * dim, (i + 1) * dim) }));
  }
  writeFileSync(join(dir, 'snapshot.bin'), Buffer.concat(frames));
  const opened = performance.now();
  const { proc, url } = await startServer('tiny-teacher', ['--gallery', dir]);
  const openSeconds = (performance.now() - opened) / 1000;
  try {
    const body = JSON.stringify({ text: 'a red circle left of a blue square', k: 10 });
    await cannon(url, '/v1/gallery/search', body, 'application/json', 1, 1, 20);
    for (const c of [1, 8]) {
      const r = await cannon(url, '/v1/gallery/search', body, 'application/json', c, seconds, maxRequests);
      const row = { bench: 'gallery-http', entries: n, concurrency: c, start_seconds: openSeconds, ...r };
      results.push(row);
      console.log(JSON.stringify(row));
    }
  } finally {
    await stop(proc);
  }
}

if (only.includes('load')) await load();
if (only.includes('gallery')) await gallery();
console.log('\n| run | model | endpoint | concurrency | p50 ms | p99 ms | req/s | mean batch |\n| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results.filter((x) => x.bench !== 'gallery-scan')) {
  console.log(`| ${r.bench} | ${r.model ?? 'tiny-teacher'} | ${r.endpoint ?? `search ${r.entries}`} | ${r.concurrency} | ${r.p50_ms} | ${r.p99_ms} | ${(r.throughput_rps as number).toFixed(1)} | ${(r.mean_batch as number).toFixed(1)} |`);
}
// The deployment question: what the student buys over the teacher (first two models), per endpoint and load.
const loadRows = results.filter((x) => x.bench === 'load');
const [reference, candidate] = models;
for (const r of loadRows.filter((x) => x.model === candidate)) {
  const base = loadRows.find((x) => x.model === reference && x.endpoint === r.endpoint && x.concurrency === r.concurrency);
  if (!base) continue;
  const speedup = (r.throughput_rps as number) / (base.throughput_rps as number);
  const p50 = (base.p50_ms as number) / Math.max(1, r.p50_ms as number);
  console.log(`${candidate} vs ${reference}, ${r.endpoint} at concurrency ${r.concurrency}: ${speedup.toFixed(2)}x the requests/s, p50 ${p50.toFixed(2)}x lower`);
}
for (const r of results.filter((x) => x.bench === 'gallery-scan')) console.log(`gallery scan: ${r.entries} × ${r.dim} dims, top ${r.k}: median ${(r.median_ms as number).toFixed(2)} ms (${(r.memory_mb as number).toFixed(0)} MB of vectors)`);
if (args.out) await writeJsonAtomic(args.out, { seconds, maxRequests, results });
