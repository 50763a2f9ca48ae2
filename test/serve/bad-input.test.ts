// Every endpoint fed bad input: each answer is a 4xx whose JSON names what is wrong, never a 5xx,
// and the server still serves afterwards.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { RunningServer } from '../../src/serve/index.js';
import { bytes, call, form, png, postImage, postJson, serve, tinyModel, tmp } from './helpers.js';

interface Case {
  name: string;
  status: number;
  /** Part of the message that must name the problem. */
  says: RegExp;
  send: (url: string) => Promise<{ status: number; body: any }>;
}

describe('dlip serve: bad input', () => {
  let server: RunningServer;
  let good: Buffer;
  const cases: Case[] = [];

  before(async () => {
    good = await png(200, 100, 50);
    server = await serve(await tinyModel('BlipForPreTraining', 5), { gallery: tmp('gallery'), bodyLimit: 300_000, maxPixels: 100 * 100, maxTextChars: 200, maxTexts: 4 });
    const noise = await sharp(Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251)), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const truncated = noise.subarray(0, Math.floor(noise.length * 0.6));
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).gif().toBuffer();
    const huge = await png(1, 2, 3, 200);
    const tooBig = Buffer.alloc(400_000, 1);
    const cut = (url: string) => {
      const boundary = 'XyZ';
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${good.toString('latin1').slice(0, 40)}`;
      return call(url, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: bytes(Buffer.from(body, 'latin1')) });
    };
    const imageEndpoints = ['/v1/embeddings/image', '/v1/caption', '/v1/itm?text=a', '/v1/rank/texts?text=a', '/v1/gallery', '/v1/gallery/search'];
    for (const path of imageEndpoints) {
      cases.push(
        { name: `${path}: no body`, status: 400, says: /no image/, send: (u) => call(`${u}${path}`, { method: 'POST' }) },
        { name: `${path}: text/plain`, status: 415, says: /Content-Type|media type/i, send: (u) => call(`${u}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }) },
        { name: `${path}: not an image`, status: 400, says: /not a readable image/, send: (u) => postImage(`${u}${path}`, Buffer.from('definitely not a png')) },
        { name: `${path}: truncated PNG`, status: 400, says: /could not be decoded/, send: (u) => postImage(`${u}${path}`, truncated) },
        { name: `${path}: GIF`, status: 415, says: /gif images are not served/, send: (u) => postImage(`${u}${path}`, gif, 'image/png') },
        { name: `${path}: too many pixels`, status: 413, says: /40000 pixels exceeds the limit of 10000/, send: (u) => postImage(`${u}${path}`, huge) },
        { name: `${path}: body over the limit`, status: 413, says: /too large|limit/i, send: (u) => postImage(`${u}${path}`, tooBig) },
        { name: `${path}: wrong file field`, status: 400, says: /unexpected file field "photo"/, send: (u) => { const f = new FormData(); f.append('photo', new Blob([bytes(good)]), 'a.png'); return call(`${u}${path}`, { method: 'POST', body: f }); } },
        { name: `${path}: cut-off multipart`, status: 400, says: /multipart|end/i, send: (u) => cut(`${u}${path}`) },
      );
    }
    cases.push(
      { name: 'embeddings/text: bad JSON', status: 400, says: /JSON/i, send: (u) => call(`${u}/v1/embeddings/text`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"texts": [' }) },
      { name: 'embeddings/text: no texts', status: 400, says: /"texts" must be a non-empty array/, send: (u) => postJson(`${u}/v1/embeddings/text`, {}) },
      { name: 'embeddings/text: texts not an array', status: 400, says: /"texts" must be/, send: (u) => postJson(`${u}/v1/embeddings/text`, { texts: 'a cat' }) },
      { name: 'embeddings/text: a number', status: 400, says: /texts\[1\]" must be a string/, send: (u) => postJson(`${u}/v1/embeddings/text`, { texts: ['a', 3] }) },
      { name: 'embeddings/text: blank', status: 400, says: /texts\[0\]" is empty/, send: (u) => postJson(`${u}/v1/embeddings/text`, { texts: ['  '] }) },
      { name: 'embeddings/text: too long', status: 413, says: /201 characters, more than the limit of 200/, send: (u) => postJson(`${u}/v1/embeddings/text`, { texts: ['x'.repeat(201)] }) },
      { name: 'embeddings/text: too many', status: 400, says: /5 entries, more than the limit of 4/, send: (u) => postJson(`${u}/v1/embeddings/text`, { texts: ['a', 'b', 'c', 'd', 'e'] }) },
      { name: 'embeddings/text: an image', status: 415, says: /JSON body/, send: (u) => postImage(`${u}/v1/embeddings/text`, good) },
      { name: 'embeddings/text: a JSON array', status: 400, says: /JSON object/, send: (u) => postJson(`${u}/v1/embeddings/text`, ['a']) },
      { name: 'caption: beams 0', status: 400, says: /"beams" must be an integer from 1 to 8/, send: (u) => postImage(`${u}/v1/caption?beams=0`, good) },
      { name: 'caption: beams abc', status: 400, says: /"beams"/, send: (u) => postImage(`${u}/v1/caption?beams=abc`, good) },
      { name: 'caption: beams twice', status: 400, says: /given 2 times/, send: (u) => postImage(`${u}/v1/caption?beams=1&beams=2`, good) },
      { name: 'caption: max_length past the positions', status: 400, says: /max_length 100 .* at most the model's 40 positions/, send: (u) => postImage(`${u}/v1/caption?max_length=100`, good) },
      { name: 'caption: max_length within the prompt', status: 400, says: /must exceed the 4 tokens/, send: (u) => postImage(`${u}/v1/caption?max_length=3`, good) },
      { name: 'vqa: not a VQA model', status: 400, says: /VQA needs a VQA model/, send: (u) => call(`${u}/v1/vqa`, { method: 'POST', body: form({ question: 'what?' }, good) }) },
      { name: 'itm: no text', status: 400, says: /field "text" is required/, send: (u) => postImage(`${u}/v1/itm`, good) },
      { name: 'rank/texts: no texts', status: 400, says: /field "text" is required/, send: (u) => postImage(`${u}/v1/rank/texts`, good) },
      { name: 'rank/texts: too many texts', status: 413, says: /5 texts, more than the limit of 4/, send: (u) => postImage(`${u}/v1/rank/texts?text=a&text=b&text=c&text=d&text=e`, good) },
      { name: 'rank/texts: k 0', status: 400, says: /"k" must be an integer from 1/, send: (u) => postImage(`${u}/v1/rank/texts?text=a&k=0`, good) },
      { name: 'rank/texts: rerank > k', status: 400, says: /"rerank" must be an integer from 0 to 1/, send: (u) => postImage(`${u}/v1/rank/texts?text=a&text=b&k=1&rerank=2`, good) },
      { name: 'gallery add: bad id', status: 400, says: /id "a b" must be/, send: (u) => call(`${u}/v1/gallery`, { method: 'POST', body: form({ id: 'a b' }, good) }) },
      { name: 'gallery add: bad meta', status: 400, says: /"meta" is not valid JSON/, send: (u) => call(`${u}/v1/gallery`, { method: 'POST', body: form({ meta: '{oops' }, good) }) },
      { name: 'gallery add: meta array', status: 400, says: /"meta" must be a JSON object/, send: (u) => call(`${u}/v1/gallery`, { method: 'POST', body: form({ meta: '[1]' }, good) }) },
      { name: 'gallery add: duplicate id', status: 409, says: /already has an entry "dup"/, send: (u) => call(`${u}/v1/gallery`, { method: 'POST', body: form({ id: 'dup' }, good) }) },
      { name: 'gallery get: unknown id', status: 404, says: /no entry "nope"/, send: (u) => call(`${u}/v1/gallery/nope`) },
      { name: 'gallery delete: unknown id', status: 404, says: /no entry "nope"/, send: (u) => call(`${u}/v1/gallery/nope`, { method: 'DELETE' }) },
      { name: 'gallery list: limit 0', status: 400, says: /"limit" must be an integer from 1 to 1000/, send: (u) => call(`${u}/v1/gallery?limit=0`) },
      { name: 'gallery list: offset -1', status: 400, says: /"offset"/, send: (u) => call(`${u}/v1/gallery?offset=-1`) },
      { name: 'gallery search: no text', status: 400, says: /"text" must be a string/, send: (u) => postJson(`${u}/v1/gallery/search`, { k: 3 }) },
      { name: 'gallery search: k 0', status: 400, says: /"k" must be an integer from 1 to 1000/, send: (u) => postJson(`${u}/v1/gallery/search`, { text: 'a', k: 0 }) },
      { name: 'gallery search: k a string', status: 400, says: /"k" must be an integer/, send: (u) => postJson(`${u}/v1/gallery/search`, { text: 'a', k: 'ten' }) },
      { name: 'gallery search: rerank an image query', status: 400, says: /"rerank" needs a text query/, send: (u) => postImage(`${u}/v1/gallery/search?rerank=1`, good) },
      { name: 'admin/model: no model', status: 400, says: /"model" must be a string/, send: (u) => postJson(`${u}/admin/model`, {}) },
      { name: 'admin/model: no such folder', status: 400, says: /"\/no\/such\/model" is neither .*still serving/, send: (u) => postJson(`${u}/admin/model`, { model: '/no/such/model' }) },
      { name: 'admin/model: form data', status: 415, says: /JSON body/, send: (u) => call(`${u}/admin/model`, { method: 'POST', body: form({ model: 'x' }) }) },
      { name: 'unknown path', status: 404, says: /no endpoint GET \/v2\/nothing/, send: (u) => call(`${u}/v2/nothing`) },
      { name: 'wrong method', status: 404, says: /no endpoint PUT \/v1\/caption/, send: (u) => call(`${u}/v1/caption`, { method: 'PUT' }) },
    );
  });
  after(() => server.close());

  it('answers every bad request with the 4xx that names the problem, and no 5xx', async () => {
    const added = await call(`${server.url}/v1/gallery`, { method: 'POST', body: form({ id: 'dup' }, good) });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const failures: string[] = [];
    for (const c of cases) {
      const r = await c.send(server.url);
      const message = typeof r.body === 'object' ? r.body.message : String(r.body);
      if (r.status !== c.status || typeof r.body?.error !== 'string' || !c.says.test(message)) {
        failures.push(`${c.name}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
    }
    assert.deepEqual(failures, []);
    const metrics = (await call(`${server.url}/metrics`)).body as string;
    assert.doesNotMatch(metrics, /dlip_http_requests_total\{[^}]*status="5\d\d"\}/);
  });

  it('answers bad VQA requests to a VQA model with a 4xx too', async () => {
    const vqa = await serve(await tinyModel('BlipForQuestionAnswering', 6), { maxTextChars: 50, maxTexts: 4 });
    try {
      const vqaCases: Case[] = [
        { name: 'vqa: no question', status: 400, says: /field "question" is required/, send: (u) => postImage(`${u}/v1/vqa`, good) },
        { name: 'vqa: blank question', status: 400, says: /"question" is empty/, send: (u) => call(`${u}/v1/vqa`, { method: 'POST', body: form({ question: ' ' }, good) }) },
        { name: 'vqa: long question', status: 413, says: /51 characters, more than the limit of 50/, send: (u) => call(`${u}/v1/vqa`, { method: 'POST', body: form({ question: 'q'.repeat(51) }, good) }) },
        { name: 'vqa: two questions', status: 400, says: /"question" is given 2 times/, send: (u) => call(`${u}/v1/vqa`, { method: 'POST', body: form({ question: ['a?', 'b?'] }, good) }) },
        { name: 'vqa: beams 9', status: 400, says: /"beams" must be an integer from 1 to 8/, send: (u) => postImage(`${u}/v1/vqa?question=what&beams=9`, good) },
        { name: 'vqa: max_length 1', status: 400, says: /"max_length" must be an integer from 2/, send: (u) => postImage(`${u}/v1/vqa?question=what&max_length=1`, good) },
        { name: 'vqa: not an image', status: 400, says: /not a readable image/, send: (u) => postImage(`${u}/v1/vqa?question=what`, Buffer.from('nope')) },
        { name: 'vqa: a blank candidate answer', status: 400, says: /"answer\[1\]" is empty/, send: (u) => call(`${u}/v1/vqa`, { method: 'POST', body: form({ question: 'what?', answer: ['red', ''] }, good) }) },
        { name: 'vqa: too many candidates', status: 413, says: /field "answer": 5 texts, more than the limit of 4/, send: (u) => call(`${u}/v1/vqa`, { method: 'POST', body: form({ question: 'what?', answer: ['a', 'b', 'c', 'd', 'e'] }, good) }) },
        { name: 'vqa: no image', status: 400, says: /no image/, send: (u) => call(`${u}/v1/vqa`, { method: 'POST', body: form({ question: 'what?' }) }) },
        { name: 'gallery on a server without one', status: 404, says: /no gallery: start dlip serve with --gallery|has no gallery/, send: (u) => call(`${u}/v1/gallery`) },
      ];
      const failures: string[] = [];
      for (const c of vqaCases) {
        const r = await c.send(vqa.url);
        if (r.status !== c.status || !c.says.test(r.body?.message ?? '')) failures.push(`${c.name}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
      assert.deepEqual(failures, []);
      assert.equal((await call(`${vqa.url}/v1/vqa`, { method: 'POST', body: form({ question: 'what is it?' }, good) })).status, 200);
    } finally {
      await vqa.close();
    }
  });

  it('still serves afterwards', async () => {
    assert.equal((await call(`${server.url}/healthz`)).status, 200);
    assert.equal((await postImage(`${server.url}/v1/embeddings/image`, good)).status, 200);
    assert.equal((await postJson(`${server.url}/v1/gallery/search`, { text: 'an orange square', k: 1 })).body.results[0].id, 'dup');
  });
});
