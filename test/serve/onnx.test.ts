// `dlip serve --runtime onnx`: the same HTTP answers as the tfjs-served model (embeddings, ITM,
// ranking, captions, VQA) from the graphs in onnxruntime; the runtime is reported and survives a hot
// swap; int8 serves close answers; the CLI refuses --quantize without --runtime onnx.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { RunningServer } from '../../src/serve/index.js';
import { BIN } from '../helpers/bin.js';
import { call, form, png, postImage, postJson, serve, tinyModel } from './helpers.js';

const TOLERANCE = 1e-4;

function close(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((x, i) => assert.ok(Math.abs(x - expected[i]!) < TOLERANCE, `${what}[${i}]: onnx ${x}, tfjs ${expected[i]}`));
}

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** The answers a retrieval + caption model gives for `image`, over HTTP. */
async function answers(url: string, image: Buffer) {
  const texts = ['a red square', 'a blue circle', 'green', 'two shapes'];
  const embed = await postImage(`${url}/v1/embeddings/image`, image);
  const text = await postJson(`${url}/v1/embeddings/text`, { texts });
  const itm = await call(`${url}/v1/itm`, { method: 'POST', body: form({ text: 'a red square' }, image) });
  const ranked = await call(`${url}/v1/rank/texts?rerank=2`, { method: 'POST', body: form({ text: texts }, image) });
  const caption = await call(`${url}/v1/caption?beams=2&max_length=12&min_length=3`, { method: 'POST', body: form({}, image) });
  for (const r of [embed, text, itm, ranked, caption]) assert.equal(r.status, 200, JSON.stringify(r.body));
  return {
    embedding: embed.body.embedding as number[],
    texts: text.body.embeddings as number[][],
    logits: itm.body.logits as number[],
    // By text index: two cosines within rounding of each other may come back in either order.
    ranked: (ranked.body.results as { index: number; cosine: number; score: number; match?: number }[]).sort((a, b) => a.index - b.index),
    caption: caption.body.caption as string,
  };
}

describe('dlip serve --runtime onnx', () => {
  let dir: string;
  let tfjs: RunningServer;
  let onnx: RunningServer;
  let images: Buffer[];

  before(async () => {
    dir = await tinyModel('BlipForPreTraining', 5);
    images = await Promise.all([png(220, 30, 30), png(20, 160, 230)]);
    tfjs = await serve(dir);
    onnx = await serve(dir, { runtime: { engine: 'onnx' } });
  });
  after(async () => {
    await tfjs?.close();
    await onnx?.close();
  });

  it('reports the runtime in the model info and the metrics', async () => {
    assert.equal((await call(`${tfjs.url}/v1/model`)).body.runtime, 'tfjs');
    const model = (await call(`${onnx.url}/v1/model`)).body;
    assert.equal(model.runtime, 'onnx');
    assert.deepEqual(model.capabilities, ['embed', 'itm', 'caption']);
    assert.equal((await call(`${onnx.url}/readyz`)).body.model.runtime, 'onnx');
    assert.match((await call(`${onnx.url}/metrics`)).body, /dlip_model_info\{spec="[^"]+",version="[0-9a-f]{12}",architecture="BlipForPreTraining",runtime="onnx"\} 1/);
  });

  it('answers embeddings, ITM, ranking and captions as the tfjs-served model does', async () => {
    for (const [n, image] of images.entries()) {
      const [a, b] = await Promise.all([answers(onnx.url, image), answers(tfjs.url, image)]);
      close(a.embedding, b.embedding, `image ${n} embedding`);
      a.texts.forEach((t, i) => close(t, b.texts[i]!, `image ${n} text embedding ${i}`));
      close(a.logits, b.logits, `image ${n} ITM logits`);
      assert.deepEqual(a.ranked.map((r) => r.match === undefined), b.ranked.map((r) => r.match === undefined), `image ${n}: the same texts reranked`);
      a.ranked.forEach((r, i) => close([r.cosine, r.score, r.match ?? 0], [b.ranked[i]!.cosine, b.ranked[i]!.score, b.ranked[i]!.match ?? 0], `image ${n} ranking of text ${r.index}`));
      assert.equal(a.caption, b.caption, `image ${n} caption`);
      assert.ok(a.caption.length > 0, 'an empty caption compares nothing');
    }
  });

  it('keeps the runtime across a hot swap', async () => {
    const info = await onnx.reload();
    assert.equal(info.runtime, 'onnx');
    const [a, b] = await Promise.all([postImage(`${onnx.url}/v1/embeddings/image`, images[0]!), postImage(`${tfjs.url}/v1/embeddings/image`, images[0]!)]);
    close(a.body.embedding, b.body.embedding, 'embedding after the swap');
  });

  it('serves int8 weights: close to fp32, not equal', async () => {
    const int8 = await serve(dir, { runtime: { engine: 'onnx', quantize: 'int8' } });
    try {
      assert.equal((await call(`${int8.url}/v1/model`)).body.runtime, 'onnx int8');
      const [q, f] = await Promise.all([answers(int8.url, images[0]!), answers(onnx.url, images[0]!)]);
      assert.ok(q.embedding.every(Number.isFinite) && q.texts.flat().every(Number.isFinite) && q.logits.every(Number.isFinite));
      assert.ok(dot(q.embedding, f.embedding) > 0.99, `image embedding cosine int8 vs fp32: ${dot(q.embedding, f.embedding)}`);
      q.texts.forEach((t, i) => assert.ok(dot(t, f.texts[i]!) > 0.99, `text ${i} embedding cosine int8 vs fp32: ${dot(t, f.texts[i]!)}`));
      assert.equal(typeof q.caption, 'string');
    } finally {
      await int8.close();
    }
  });
});

describe('dlip serve --runtime onnx: a VQA model', () => {
  it('generates and ranks answers as the tfjs-served model does', async () => {
    const dir = await tinyModel('BlipForQuestionAnswering', 6);
    const [tfjs, onnx] = await Promise.all([serve(dir), serve(dir, { runtime: { engine: 'onnx' } })]);
    try {
      const image = await png(10, 200, 10);
      const ask = (url: string, fields: Record<string, string | string[]>) => call(`${url}/v1/vqa`, { method: 'POST', body: form(fields, image) });
      const generated: Record<string, string>[] = [{ question: 'what colour is it?', beams: '3', max_length: '6', min_length: '3' }, { question: 'is it green?', beams: '1', min_length: '3' }];
      for (const fields of generated) {
        const [a, b] = await Promise.all([ask(onnx.url, fields), ask(tfjs.url, fields)]);
        assert.equal(a.status, 200, JSON.stringify(a.body));
        assert.equal(a.body.answer, b.body.answer, `generated answer to ${fields.question}`);
        assert.ok(a.body.answer.length > 0, 'an empty answer compares nothing');
      }
      const ranked = { question: 'what colour is it?', answer: ['yes', 'no', 'green', 'two', 'a red square'] };
      const [a, b] = await Promise.all([ask(onnx.url, ranked), ask(tfjs.url, ranked)]);
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(a.body.answer, b.body.answer);
      close([a.body.score], [b.body.score], 'ranked answer score');
    } finally {
      await Promise.all([tfjs.close(), onnx.close()]);
    }
  });
});

describe('dlip serve --quantize', () => {
  it('is refused without --runtime onnx, naming both flags', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--model', 'tiny-teacher', '--port', '0', '--quantize', 'int8'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--quantize int8 needs --runtime onnx/);
  });
});
