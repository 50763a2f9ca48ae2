// The model endpoints on loopback with a tiny real model: answers equal what the library computes
// in-process, concurrent requests share batches, probes, metrics, OpenAPI, API keys, load shedding.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { tf } from '../../src/engine/backend.js';
import { loadModel } from '../../src/io/checkpoint.js';
import { generateCaptions } from '../../src/eval/generate.js';
import { loadImageChw } from '../../src/data/image.js';
import { defaultTokenizer, SEP_ID } from '../../src/data/tokenizer.js';
import { BlipForPreTraining, BlipForQuestionAnswering } from '../../src/models/blip.js';
import { rankVqaAnswers } from '../../src/eval/vqa.js';
import { preQuestion } from '../../src/data/text.js';
import type { RunningServer } from '../../src/serve/index.js';
import { registeredRoutes } from '../../src/serve/app.js';
import { bytes, call, form, png, postImage, postJson, serve, tinyModel } from './helpers.js';

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe('dlip serve: model endpoints', () => {
  let dir: string;
  let server: RunningServer;
  let red: Buffer;

  before(async () => {
    dir = await tinyModel('BlipForPreTraining', 1);
    red = await png(220, 30, 30);
    server = await serve(dir, { maxWaitMs: 40 });
  });
  after(() => server.close());

  it('answers the probes and describes the model', async () => {
    assert.deepEqual((await call(`${server.url}/healthz`)).body, { status: 'ok' });
    const ready = await call(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    const model = (await call(`${server.url}/v1/model`)).body;
    assert.equal(model.architecture, 'BlipForPreTraining');
    assert.deepEqual(model.capabilities, ['embed', 'itm', 'caption']);
    assert.match(model.version, /^[0-9a-f]{12}$/);
    assert.equal(model.embeddingDim, 6);
    assert.equal(model.dir, undefined, 'no local paths leak');
  });

  it('embeds an image the same way as raw bytes and as multipart, as a unit vector', async () => {
    const raw = await postImage(`${server.url}/v1/embeddings/image`, red);
    assert.equal(raw.status, 200, JSON.stringify(raw.body));
    const multi = await call(`${server.url}/v1/embeddings/image`, { method: 'POST', body: form({}, red) });
    assert.equal(raw.body.dim, 6);
    assert.deepEqual(multi.body.embedding, raw.body.embedding);
    assert.ok(Math.abs(norm(raw.body.embedding) - 1) < 1e-5);
    const blue = await postImage(`${server.url}/v1/embeddings/image`, await png(20, 20, 230));
    assert.notDeepEqual(blue.body.embedding, raw.body.embedding);
    for (const [format, type] of [['jpeg', 'image/jpeg'], ['webp', 'image/webp']] as const) {
      const encoded = await sharp(red).toFormat(format, { quality: 100 }).toBuffer();
      const r = await postImage(`${server.url}/v1/embeddings/image`, encoded, type);
      assert.equal(r.status, 200, `${format}: ${JSON.stringify(r.body)}`);
      assert.ok(r.body.embedding.every((x: number, i: number) => Math.abs(x - raw.body.embedding[i]) < 0.05), `${format} embeds the same picture alike`);
    }
  });

  it('batches concurrent requests and gives each the answer it gets alone', async () => {
    const texts = ['a red circle', 'two blue squares', 'a green triangle on the left', 'nothing', 'a small cat', 'big', 'the sky', 'a dog'];
    const alone: number[][] = [];
    for (const t of texts) alone.push((await postJson(`${server.url}/v1/embeddings/text`, { texts: [t] })).body.embeddings[0]);
    const before = await call(`${server.url}/metrics`);
    const count = (m: string) => Number(/dlip_batch_size_count\{kind="text-embed"\} (\d+)/.exec(m)?.[1] ?? 0);
    const together = await Promise.all(texts.map((t) => postJson(`${server.url}/v1/embeddings/text`, { texts: [t] })));
    const after = await call(`${server.url}/metrics`);
    together.forEach((r, i) => {
      assert.equal(r.status, 200);
      r.body.embeddings[0].forEach((x: number, j: number) => assert.ok(Math.abs(x - alone[i][j]) < 1e-5, `text ${i} dim ${j}`));
    });
    const batches = count(after.body) - count(before.body);
    assert.ok(batches < texts.length, `${texts.length} concurrent requests ran in ${batches} batches`);
  });

  it('captions as generateCaptions does in-process', async () => {
    const r = await call(`${server.url}/v1/caption?beams=2&max_length=12&min_length=3`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: bytes(red) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const { model } = await loadModel(dir);
    const pixels = tf.tensor4d(await loadImageChw(red, { size: 16 }), [1, 3, 16, 16]);
    const prompt = defaultTokenizer().encodeOne('a picture of ').filter((id) => id !== SEP_ID).slice(1);
    const [expected] = generateCaptions(model as BlipForPreTraining, pixels, { prompt, numBeams: 2, maxLength: 12, minLength: 3 });
    assert.equal(r.body.caption, defaultTokenizer().decode(expected!.tokens));
    tf.dispose(pixels);
    model.dispose();
  });

  it('scores image-text pairs and ranks texts for an image, with an ITM rerank', async () => {
    const itm = await call(`${server.url}/v1/itm`, { method: 'POST', body: form({ text: 'a red square' }, red) });
    assert.equal(itm.status, 200, JSON.stringify(itm.body));
    assert.ok(itm.body.match > 0 && itm.body.match < 1);
    assert.equal(itm.body.logits.length, 2);
    const texts = ['a red square', 'a blue circle', 'green', 'two shapes'];
    const ranked = await call(`${server.url}/v1/rank/texts?rerank=2`, { method: 'POST', body: form({ text: texts }, red) });
    assert.equal(ranked.status, 200, JSON.stringify(ranked.body));
    const results = ranked.body.results;
    assert.deepEqual(results.map((r: { index: number }) => r.index).sort(), [0, 1, 2, 3]);
    assert.ok(results[0].match !== undefined && results[1].match !== undefined && results[2].match === undefined);
    assert.ok(results[0].score >= results[1].score && results[2].cosine >= results[3].cosine);
    const pair = results.find((r: { index: number; match?: number }) => r.index === 0 && r.match !== undefined);
    if (pair) assert.ok(Math.abs(pair.match - itm.body.match) < 1e-5, 'the rerank scores the pair as /v1/itm does');
  });

  it('exports Prometheus metrics per route, the model version and the queue depth', async () => {
    const m = (await call(`${server.url}/metrics`)).body as string;
    assert.match(m, /dlip_http_requests_total\{route="\/v1\/embeddings\/image",method="POST",status="200"\} \d+/);
    assert.match(m, /dlip_http_request_duration_seconds_bucket\{le="0.1",route="\/v1\/caption",method="POST"\}/);
    assert.match(m, /dlip_model_info\{spec="[^"]+",version="[0-9a-f]{12}",architecture="BlipForPreTraining",runtime="tfjs"\} 1/);
    assert.match(m, /dlip_queue_depth 0/);
  });

  it('describes exactly the registered routes in OpenAPI', async () => {
    const doc = (await call(`${server.url}/openapi.json`)).body;
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const registered = registeredRoutes(server.app);
    assert.deepEqual([...new Set(registered)].sort(), documented.sort());
  });
});

describe('dlip serve: a VQA model', () => {
  it('answers questions and refuses what the model cannot do with a 400 naming it', async () => {
    const dir = await tinyModel('BlipForQuestionAnswering', 2);
    const server = await serve(dir);
    try {
      const image = await png(10, 200, 10);
      const r = await call(`${server.url}/v1/vqa`, { method: 'POST', body: form({ question: 'what colour is it?', beams: '1' }, image) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(typeof r.body.answer, 'string');
      const q = await postImage(`${server.url}/v1/vqa?question=${encodeURIComponent('is it green?')}`, image);
      assert.equal(q.status, 200);
      // With candidates, BLIP's ranking picks one of them, as rankVqaAnswers does in-process.
      const candidates = ['yes', 'no', 'green', 'two', 'a red square'];
      const ranked = await call(`${server.url}/v1/vqa`, { method: 'POST', body: form({ question: 'what colour is it?', answer: candidates }, image) });
      assert.equal(ranked.status, 200, JSON.stringify(ranked.body));
      const { model } = await loadModel(dir);
      const tokenizer = defaultTokenizer();
      const pixels = tf.tensor4d(await loadImageChw(image, { size: 16 }), [1, 3, 16, 16]);
      const question = tokenizer.encodeToTensors([preQuestion('what colour is it?')], { maxLength: 35, firstToken: 'enc' });
      const [expected] = rankVqaAnswers(model as BlipForQuestionAnswering, pixels, question.inputIds, question.attentionMask, candidates.map((a) => tokenizer.encodeOne(a).slice(1, -1)), { k: 5, padTokenId: 0 });
      assert.equal(ranked.body.answer, candidates[expected!.index]);
      assert.ok(Math.abs(ranked.body.score - expected!.score) < 1e-4);
      tf.dispose([pixels, question.inputIds, question.attentionMask]);
      model.dispose();
      const no = await postImage(`${server.url}/v1/embeddings/image`, image);
      assert.equal(no.status, 400);
      assert.match(no.body.message, /ITC heads.*is a BlipForQuestionAnswering/);
      const caption = await postImage(`${server.url}/v1/caption`, image);
      assert.equal(caption.status, 400);
    } finally {
      await server.close();
    }
  });
});

describe('dlip serve: access and load shedding', () => {
  it('requires the API key (constant-time compared) except on the probes, and one off loopback', async () => {
    const dir = await tinyModel('BlipForImageTextRetrieval', 3);
    await assert.rejects(serve(dir, { host: '0.0.0.0' }), /reachable from other machines: give --api-key/);
    const server = await serve(dir, { apiKey: 's3cret' });
    try {
      assert.equal((await call(`${server.url}/v1/model`)).status, 401);
      assert.equal((await call(`${server.url}/v1/model`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      assert.equal((await call(`${server.url}/v1/model`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
      assert.equal((await call(`${server.url}/v1/model`, { headers: { 'x-api-key': 's3cret' } })).status, 200);
      assert.equal((await call(`${server.url}/metrics`)).status, 401);
      assert.equal((await call(`${server.url}/healthz`)).status, 200);
      assert.equal((await call(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it('says 503 on /readyz, with Retry-After and the reason, until the model is loaded', async () => {
    const dir = await tinyModel('BlipForImageTextRetrieval', 5);
    // A free port, so the probes can start before startServer resolves (it resolves once ready).
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as AddressInfo;
        probe.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const seen: { status: number; reason?: string; retryAfter: string | null }[] = [];
    let started = false;
    const starting = serve(dir, { port }).finally(() => (started = true));
    while (!started) {
      const r = await call(`${url}/readyz`).catch(() => undefined); // not listening yet
      if (r) seen.push({ status: r.status, reason: r.body.reason, retryAfter: r.headers.get('retry-after') });
      await new Promise((res) => setTimeout(res, 5));
    }
    const server = await starting;
    try {
      const waiting = seen.filter((s) => s.status === 503);
      assert.ok(waiting.length > 0, `no 503 while loading (saw ${JSON.stringify(seen)})`);
      assert.deepEqual(waiting[0], { status: 503, reason: 'loading the model', retryAfter: '1' });
      assert.ok(seen.every((s) => s.status === 503 || s.status === 200), JSON.stringify(seen));
      assert.equal((await call(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it('answers 503 with Retry-After when the queue is full or a request times out', async () => {
    const dir = await tinyModel('BlipForImageTextRetrieval', 4);
    const full = await serve(dir, { queueLimit: 2, maxWaitMs: 300, maxBatch: 64 });
    try {
      const answers = await Promise.all(Array.from({ length: 4 }, () => postJson(`${full.url}/v1/embeddings/text`, { texts: ['a'] })));
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [200, 200, 503, 503]);
      const shed = answers.find((a) => a.status === 503)!;
      assert.equal(shed.headers.get('retry-after'), '1');
      assert.equal(shed.body.error, 'overloaded');
    } finally {
      await full.close();
    }
    const slow = await serve(dir, { timeoutMs: 50, maxWaitMs: 200, maxBatch: 64 });
    try {
      const r = await postJson(`${slow.url}/v1/embeddings/text`, { texts: ['a'] });
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'timeout');
      assert.equal((await call(`${slow.url}/healthz`)).status, 200);
    } finally {
      await slow.close();
    }
  });
});
