// Hot swap under load: every request answered (200) while the model changes, the gallery moves to
// the new model's embeddings, and a model that fails to load or to warm up leaves the old one serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningServer } from '../../src/serve/index.js';
import { tf } from '../../src/engine/backend.js';
import { loadModel } from '../../src/io/checkpoint.js';
import { generateCaptions } from '../../src/eval/generate.js';
import { loadImageChw } from '../../src/data/image.js';
import { defaultTokenizer, SEP_ID } from '../../src/data/tokenizer.js';
import type { BlipForPreTraining } from '../../src/models/blip.js';
import { call, form, png, postImage, postJson, serve, tinyModel, tmp } from './helpers.js';

describe('dlip serve: hot swap', () => {
  let server: RunningServer;
  let a: string;
  let b: string;
  let poisoned: string;
  let image: Buffer;
  let swapInfo: { previous: { captionPrompt: string }; current: { captionPrompt: string } };

  before(async () => {
    [a, b, poisoned] = [await tinyModel('BlipForPreTraining', 10), await tinyModel('BlipForPreTraining', 11, { captionPrompt: '' }), await tinyModel('BlipForPreTraining', 12, { poison: true })];
    image = await png(40, 160, 220);
    server = await serve(a, { gallery: tmp('gallery'), maxWaitMs: 2 });
    for (let i = 0; i < 6; i++) {
      const r = await call(`${server.url}/v1/gallery`, { method: 'POST', body: form({ id: `g${i}` }, await png(i * 40, 255 - i * 40, 90)) });
      assert.equal(r.status, 201);
    }
  });
  after(() => server.close());

  it('loses no request while swapping under load, and re-embeds the gallery', async () => {
    const versionA = (await call(`${server.url}/v1/model`)).body.version;
    const statuses: number[] = [];
    const versions: string[] = [];
    let stop = false;
    const requests = [
      () => postJson(`${server.url}/v1/embeddings/text`, { texts: ['a blue square', 'two circles'] }),
      () => postImage(`${server.url}/v1/embeddings/image`, image),
      () => postJson(`${server.url}/v1/gallery/search`, { text: 'a green shape', k: 3, rerank: 2 }),
      () => call(`${server.url}/v1/caption?beams=1&max_length=8`, { method: 'POST', body: form({}, image) }),
    ];
    const loops = Array.from({ length: 8 }, async (_, i) => {
      for (let n = 0; !stop; n++) {
        const r = await requests[(i + n) % requests.length]!();
        statuses.push(r.status);
        if (r.body?.model) versions.push(r.body.model);
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const [swap, concurrent] = await Promise.all([postJson(`${server.url}/admin/model`, { model: b }), new Promise((r) => setTimeout(r, 20)).then(() => postJson(`${server.url}/admin/model`, { model: a }))]);
    assert.equal(swap.status, 200, JSON.stringify(swap.body));
    swapInfo = swap.body;
    assert.equal(concurrent.status, 409, 'a second swap while one runs is refused');
    assert.equal(swap.body.previous.version, versionA);
    const versionB = swap.body.current.version;
    assert.notEqual(versionB, versionA);
    const settled = statuses.length;
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(loops);
    assert.ok(statuses.length > settled, 'requests kept flowing after the swap');
    assert.deepEqual([...new Set(statuses)], [200], `every request answered 200 (${statuses.length} requests)`);
    assert.ok(versions.includes(versionA) && versions.at(-1) === versionB, 'answers came from A, then B');
    const listed = (await call(`${server.url}/v1/gallery`)).body.entries;
    assert.equal(listed.length, 6);
    assert.ok(listed.every((e: { model: string }) => e.model === versionB), 'the gallery holds B embeddings');
    const hit = (await postJson(`${server.url}/v1/gallery/search`, { text: 'anything', k: 6 })).body;
    assert.equal(hit.model, versionB);
    assert.equal(hit.results.length, 6);
  });

  it("captions after the prompt the served model was trained with: A (none recorded) BLIP's, B none", async () => {
    assert.equal(swapInfo.previous.captionPrompt, 'a picture of ');
    assert.equal(swapInfo.current.captionPrompt, '');
    const served = await call(`${server.url}/v1/caption?beams=1&max_length=8&min_length=3`, { method: 'POST', body: form({}, image) });
    assert.equal(served.status, 200, JSON.stringify(served.body));
    const { model } = await loadModel(b);
    const pixels = tf.tensor4d(await loadImageChw(image, { size: 16 }), [1, 3, 16, 16]);
    const caption = (prompt: string) => {
      const ids = defaultTokenizer().encodeOne(prompt).filter((id) => id !== SEP_ID).slice(1);
      return defaultTokenizer().decode(generateCaptions(model as BlipForPreTraining, pixels, { prompt: ids, numBeams: 1, maxLength: 8, minLength: 3 })[0]!.tokens);
    };
    assert.equal(served.body.caption, caption(''));
    // The same request with BLIP's prompt named explicitly decodes after it instead.
    const blip = await call(`${server.url}/v1/caption?beams=1&max_length=8&min_length=3&prompt=a%20picture%20of%20`, { method: 'POST', body: form({}, image) });
    assert.equal(blip.body.caption, caption('a picture of '));
    tf.dispose(pixels);
    model.dispose();
  });

  it('restarts a model worker that dies, and serves again', async () => {
    const version = (await call(`${server.url}/v1/model`)).body.version;
    // What a native crash or an out-of-memory kill looks like from the HTTP side: the thread is gone.
    await (server.context.host.worker as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    let status = 0;
    for (let i = 0; i < 600 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await call(`${server.url}/readyz`)).status;
    }
    assert.equal(status, 200, 'ready again');
    assert.equal((await call(`${server.url}/v1/model`)).body.version, version);
    assert.equal((await postImage(`${server.url}/v1/embeddings/image`, image)).status, 200);
  });

  it('keeps serving the old version when the new one fails to load or to warm up', async () => {
    const before = (await call(`${server.url}/v1/model`)).body.version;
    const nan = await postJson(`${server.url}/admin/model`, { model: poisoned });
    assert.equal(nan.status, 400);
    assert.match(nan.body.message, /warm-up: .* not finite.*still serving/);
    const missing = await postJson(`${server.url}/admin/model`, { model: '/no/such/folder' });
    assert.equal(missing.status, 400);
    assert.equal((await call(`${server.url}/v1/model`)).body.version, before);
    assert.equal((await postImage(`${server.url}/v1/embeddings/image`, image)).status, 200);
    const metrics = (await call(`${server.url}/metrics`)).body as string;
    assert.match(metrics, /dlip_model_swaps_total\{result="ok"\} 2/, 'the swap and the restart');
    assert.match(metrics, /dlip_model_swaps_total\{result="failed"\} 2/);
  });
});
