// Models by Hugging Face name: the real download code against a fake hub on loopback that serves tiny
// models under the hub's URL scheme and headers (/resolve/ with X-Repo-Commit and ETag, LFS files
// redirected to a CDN path with X-Linked-Etag / X-Linked-Size, Range), and can drop connections,
// ignore Range or answer 404.
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { TensorToWrite } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/blip.js';
import type { BlipModel } from '../../src/models/blip.js';
import { parseBlipConfig } from '../../src/models/config.js';
import type { BlipConfig } from '../../src/models/config.js';
import { initParameters } from '../../src/nn/init.js';
import { BIN } from '../helpers/bin.js';
import { tinyConfig } from '../helpers/tiny.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'dlip-hub-'));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const commitId = (label: string) => createHash('sha1').update(label).digest('hex');

interface Logged {
  method: string;
  path: string;
  status: number;
  range?: string;
  auth?: string;
}

interface Repo {
  refs: Record<string, string>;
  commits: Record<string, Map<string, Buffer>>;
}

/** Just enough of huggingface.co: /<repo>/resolve/<revision>/<file> and the LFS bytes behind it. */
class FakeHub {
  readonly repos = new Map<string, Repo>();
  log: Logged[] = [];
  /** The next this-many LFS downloads send half of what they promise, then cut the connection. */
  drops = 0;
  /** The next this-many LFS downloads send every byte, with the last one changed. */
  corrupts = 0;
  /** Answer Range requests with the whole file (200), as servers without Range support do. */
  ignoreRange = false;
  /** 404 for missing files without the hub's X-Error-Code, as a plain web server would. */
  plain404 = false;
  url = '';
  private readonly server = createServer((req, res) => this.handle(req, res));

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get resolves(): Logged[] {
    return this.log.filter((l) => l.path.includes('/resolve/'));
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | number>, body?: Buffer): void {
    this.log.push({ method: req.method!, path: req.url!, status, range: req.headers.range, auth: req.headers.authorization });
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const [, owner, name, kind, rev, ...rest] = req.url!.split('/').map(decodeURIComponent);
    if (owner === 'lfs') return this.serveBlob(req, res, name!);
    const repo = this.repos.get(`${owner}/${name}`);
    if (kind !== 'resolve' || !repo) return this.reply(req, res, 401, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' });
    const commit = repo.refs[rev!] ?? (repo.commits[rev!] ? rev! : undefined);
    if (!commit) return this.reply(req, res, 404, { 'X-Error-Code': 'RevisionNotFound', 'X-Error-Message': 'Invalid rev id' });
    const file = repo.commits[commit]!.get(rest.join('/'));
    if (!file) return this.reply(req, res, 404, this.plain404 ? {} : { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': commit });
    if (rest.at(-1)!.endsWith('.safetensors')) {
      return this.reply(req, res, 302, {
        Location: `${this.url}/lfs/${sha256(file)}`,
        'X-Repo-Commit': commit,
        'X-Linked-Etag': `"${sha256(file)}"`,
        'X-Linked-Size': file.length,
        ETag: `W/"${gitOid(Buffer.from(`lfs pointer ${sha256(file)}`))}"`,
      });
    }
    this.reply(req, res, 200, { 'X-Repo-Commit': commit, ETag: `"${gitOid(file)}"`, 'Content-Length': file.length }, file);
  }

  private serveBlob(req: IncomingMessage, res: ServerResponse, sha: string): void {
    const files = [...this.repos.values()].flatMap((r) => Object.values(r.commits).flatMap((c) => [...c.values()]));
    const file = files.find((f) => sha256(f) === sha);
    if (!file) return this.reply(req, res, 404, {});
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range && !this.ignoreRange ? Number(range[1]) : 0;
    const status = start > 0 ? 206 : 200;
    const headers = { 'Accept-Ranges': 'bytes', 'Content-Length': file.length - start, ...(status === 206 ? { 'Content-Range': `bytes ${start}-${file.length - 1}/${file.length}` } : {}) };
    if (this.drops === 0) {
      const body = Buffer.from(file.subarray(start));
      if (this.corrupts > 0) {
        this.corrupts--;
        body.writeUInt8(body.at(-1)! ^ 0xff, body.length - 1);
      }
      return this.reply(req, res, status, headers, body);
    }
    this.drops--;
    this.log.push({ method: req.method!, path: req.url!, status, range: req.headers.range, auth: req.headers.authorization });
    res.writeHead(status, headers);
    const half = start + Math.floor((file.length - start) / 2);
    res.write(file.subarray(start, half), () => setTimeout(() => req.socket.destroy(), 50));
  }
}

/** A saved model's files, and its weights to compare loads against. */
async function modelFiles(config: BlipConfig, seed: number): Promise<{ files: Map<string, Buffer>; weights: Map<string, Float32Array> }> {
  const model = createModel(config, 'BlipForImageTextRetrieval');
  initParameters(model, seed);
  const dir = tmp();
  await saveModel(model, dir);
  const weights = weightsOf(model);
  model.dispose();
  return { files: new Map(['config.json', 'model.safetensors', 'dlip.json'].map((f) => [f, readFileSync(join(dir, f))])), weights };
}

function weightsOf(model: BlipModel): Map<string, Float32Array> {
  return new Map([...model.namedParameters()].map(([k, p]) => [k, Float32Array.from(p.value.dataSync() as Float32Array)]));
}

function assertWeights(model: BlipModel, expected: Map<string, Float32Array>): void {
  const actual = weightsOf(model);
  model.dispose();
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [k, v] of expected) assert.ok(Buffer.from(actual.get(k)!.buffer).equals(Buffer.from(v.buffer)), `${k} differs`);
}

/** The same model as one index and two shards, as Hugging Face stores large checkpoints. */
async function shardedFiles(single: Map<string, Buffer>): Promise<Map<string, Buffer>> {
  const dir = tmp();
  const whole = join(dir, 'whole.safetensors');
  writeFileSync(whole, single.get('model.safetensors')!);
  const tensors = [...(await readSafetensors(whole))].sort(([a], [b]) => a.localeCompare(b));
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  const out = new Map([['config.json', single.get('config.json')!]]);
  for (const [i, shard] of names.entries()) {
    const part = new Map<string, TensorToWrite>();
    tensors.forEach(([k, t], j) => {
      if (j % 2 !== i) return;
      part.set(k, { shape: t.shape, data: t.data as Float32Array });
      weightMap[k] = shard;
    });
    await writeSafetensors(join(dir, shard), part, { format: 'pt' });
    out.set(shard, readFileSync(join(dir, shard)));
  }
  out.set('model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: {}, weight_map: weightMap })));
  return out;
}

const ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_HUB_DISABLE_PROGRESS_BARS'] as const;
const A = commitId('a');
const B = commitId('b');

describe('models by Hugging Face name', () => {
  const hub = new FakeHub();
  let cache = '';
  let main: Awaited<ReturnType<typeof modelFiles>>;
  let tagged: Awaited<ReturnType<typeof modelFiles>>;
  const saved: Partial<Record<(typeof ENV)[number], string>> = {};
  const repoDir = () => join(cache, 'models--dlip-test--tiny');

  before(async () => {
    await initBackend('cpu');
    await hub.start();
    main = await modelFiles(tinyConfig(), 1);
    tagged = await modelFiles(tinyConfig(), 2);
    hub.repos.set('dlip-test/tiny', { refs: { main: A, v1: B }, commits: { [A]: main.files, [B]: tagged.files } });
    hub.repos.set('dlip-test/sharded', { refs: { main: A }, commits: { [A]: await shardedFiles(main.files) } });
    hub.repos.set('dlip-test/no-weights', { refs: { main: A }, commits: { [A]: new Map([['config.json', main.files.get('config.json')!]]) } });
  });
  after(() => hub.close());
  beforeEach(() => {
    for (const k of ENV) saved[k] = process.env[k];
    cache = tmp();
    Object.assign(process.env, { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_HUB_DISABLE_PROGRESS_BARS: '1' });
    delete process.env.HF_TOKEN;
    delete process.env.HF_HUB_OFFLINE;
    Object.assign(hub, { log: [], drops: 0, corrupts: 0, ignoreRange: false, plain404: false });
  });
  afterEach(() => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('downloads into the Hugging Face cache layout with HF_TOKEN, then loads from the cache without requests', async () => {
    process.env.HF_TOKEN = 'hf_secret';
    const progress: [string, number][] = [];
    const record = (file: string) => ({ update: (n: number) => progress.push([file, n]), stop() {} });
    const { model, manifest } = await loadModel('dlip-test/tiny', { hub: { progress: record } });
    assertWeights(model, main.weights);
    assert.ok(manifest, 'dlip.json is fetched and its hash checked');

    const weights = main.files.get('model.safetensors')!;
    assert.equal(readFileSync(join(repoDir(), 'refs', 'main'), 'utf8'), A);
    const link = join(repoDir(), 'snapshots', A, 'model.safetensors');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), join('..', '..', 'blobs', sha256(weights)));
    assert.equal(readlinkSync(join(repoDir(), 'snapshots', A, 'config.json')), join('..', '..', 'blobs', gitOid(main.files.get('config.json')!)));
    assert.deepEqual(readdirSync(join(repoDir(), 'blobs')).filter((f) => f.endsWith('.incomplete')), []);
    assert.deepEqual(progress.filter(([f]) => f === 'dlip-test/tiny/model.safetensors').at(-1), ['dlip-test/tiny/model.safetensors', weights.length]);

    assert.ok(hub.resolves.length >= 3);
    for (const r of hub.resolves) assert.equal(r.auth, 'Bearer hf_secret', `${r.method} ${r.path}`);
    // The bytes are fetched at the commit the branch resolved to, not at the branch.
    assert.ok(hub.resolves.filter((r) => r.method === 'GET').every((r) => r.path.includes(`/resolve/${A}/`)));

    const requests = hub.log.length;
    assertWeights((await loadModel('dlip-test/tiny')).model, main.weights);
    assert.equal(hub.log.length, requests, 'the second load makes no requests');
  });

  it('HF_HUB_OFFLINE loads what the cache holds and says what it lacks', async () => {
    process.env.HF_HUB_OFFLINE = '1';
    await assert.rejects(loadModel('dlip-test/tiny'), /dlip-test\/tiny@main: config\.json is not in the Hugging Face cache \(.*models--dlip-test--tiny\) and HF_HUB_OFFLINE is set/);
    delete process.env.HF_HUB_OFFLINE;
    (await loadModel('dlip-test/tiny')).model.dispose();
    const requests = hub.log.length;
    process.env.HF_HUB_OFFLINE = '1';
    // A cache written by Python tools has no dlip.json: offline it is optional.
    rmSync(join(repoDir(), 'snapshots', A, 'dlip.json'));
    const offline = await loadModel('dlip-test/tiny');
    assert.equal(offline.manifest, undefined);
    assertWeights(offline.model, main.weights);
    assertWeights((await loadModel(`dlip-test/tiny@${A}`)).model, main.weights);
    await assert.rejects(loadModel('dlip-test/tiny@v1'), /dlip-test\/tiny@v1: config\.json is not in the Hugging Face cache/);
    assert.equal(hub.log.length, requests);
  });

  it('loads name@revision (a tag or a commit) from that commit', async () => {
    assertWeights((await loadModel('dlip-test/tiny@v1')).model, tagged.weights);
    assert.equal(readFileSync(join(repoDir(), 'refs', 'v1'), 'utf8'), B);
    assert.ok(existsSync(join(repoDir(), 'snapshots', B, 'model.safetensors')));
    assertWeights((await loadModel(`dlip-test/tiny@${A}`)).model, main.weights);
    assert.ok(!existsSync(join(repoDir(), 'refs', A)), 'a commit needs no ref');
    await assert.rejects(loadModel('dlip-test/tiny@v9'), /dlip-test\/tiny@v9: revision v9 not found in dlip-test\/tiny/);
  });

  it('loads a sharded repo (index + shards), noting that it has no model.safetensors', async () => {
    assertWeights((await loadModel('dlip-test/sharded')).model, main.weights);
    const root = join(cache, 'models--dlip-test--sharded');
    assert.ok(existsSync(join(root, 'snapshots', A, 'model-00002-of-00002.safetensors')));
    assert.ok(existsSync(join(root, '.no_exist', A, 'model.safetensors')));
    assert.ok(existsSync(join(root, '.no_exist', A, 'dlip.json')));
    const requests = hub.log.length;
    (await loadModel('dlip-test/sharded')).model.dispose();
    assert.equal(hub.log.length, requests);
  });

  it('a dropped connection leaves only a .incomplete file, and the next try resumes it with Range', async () => {
    const weights = main.files.get('model.safetensors')!;
    const blob = join(repoDir(), 'blobs', sha256(weights));
    hub.drops = 3; // every attempt of one load
    await assert.rejects(loadModel('dlip-test/tiny'), /dlip-test\/tiny@main: downloading model\.safetensors failed after 3 attempt\(s\): .*connection lost after \d+ of \d+ bytes/);
    assert.ok(!existsSync(blob), 'no blob under its final name');
    const partial = statSync(`${blob}.incomplete`).size;
    assert.ok(partial > 0 && partial < weights.length, `partial ${partial} of ${weights.length}`);
    assert.ok(!existsSync(join(repoDir(), 'snapshots', A, 'model.safetensors')));
    assert.ok(!existsSync(join(repoDir(), 'refs', 'main')), 'no ref to an incomplete snapshot');

    hub.log = [];
    hub.drops = 1; // the first try of this load drops too; it resumes within the load
    assertWeights((await loadModel('dlip-test/tiny')).model, main.weights);
    const ranges = hub.log.filter((l) => l.path.startsWith('/lfs/')).map((l) => [l.range, l.status]);
    assert.equal(ranges.length, 2);
    assert.deepEqual(ranges[0], [`bytes=${partial}-`, 206]);
    assert.match(String(ranges[1]![0]), /^bytes=\d+-$/);
    assert.ok(!existsSync(`${blob}.incomplete`));
    assert.equal(sha256(readFileSync(blob)), sha256(weights));
  });

  it('refuses bytes that do not match the sha256 ETag, and fetches them again', async () => {
    const weights = main.files.get('model.safetensors')!;
    const blob = join(repoDir(), 'blobs', sha256(weights));
    hub.corrupts = 3;
    await assert.rejects(loadModel('dlip-test/tiny'), /downloading model\.safetensors failed after 3 attempt\(s\): .*does not match its sha256/);
    assert.ok(!existsSync(blob) && !existsSync(`${blob}.incomplete`), 'nothing kept of a corrupt download');
    hub.log = [];
    hub.drops = 1;
    hub.corrupts = 1; // the first try is cut short; its resume brings a wrong last byte; the third try starts over
    assertWeights((await loadModel('dlip-test/tiny')).model, main.weights);
    assert.deepEqual(hub.log.filter((l) => l.path.startsWith('/lfs/')).map((l) => l.status), [200, 206, 200]);
    assert.equal(sha256(readFileSync(blob)), sha256(weights));
  });

  it('restarts from the start when the server ignores Range', async () => {
    hub.drops = 1;
    hub.ignoreRange = true;
    assertWeights((await loadModel('dlip-test/tiny')).model, main.weights);
    const lfs = hub.log.filter((l) => l.path.startsWith('/lfs/'));
    assert.equal(lfs.length, 2);
    assert.match(String(lfs[1]!.range), /^bytes=\d+-$/);
    assert.equal(lfs[1]!.status, 200);
  });

  it('names the repo and the file on a 404, and the repo when it does not exist', async () => {
    await assert.rejects(loadModel('dlip-test/nope'), /dlip-test\/nope: repository not found at http:\/\/127\.0\.0\.1:\d+ \(if it is private or gated, set HF_TOKEN\)/);
    await assert.rejects(loadModel('dlip-test/no-weights'), /dlip-test\/no-weights@main has no model\.safetensors or model\.safetensors\.index\.json/);
    hub.repos.set('dlip-test/empty', { refs: { main: A }, commits: { [A]: new Map() } });
    hub.plain404 = true;
    await assert.rejects(loadModel('dlip-test/empty'), new RegExp(`dlip-test/empty@main has no config\\.json \\(${hub.url}/dlip-test/empty/resolve/main/config\\.json: 404 not found\\)`));
    await assert.rejects(loadModel('./dlip-test/none'), /"\.\/dlip-test\/none" is neither (a shipped model \([^)]*\), )?an existing folder nor a Hugging Face model name \(owner\/name\[@revision\]\)/);
  });

  it('an existing folder wins over a name that looks the same', async () => {
    const dir = tmp();
    const local = await modelFiles(tinyConfig(), 5);
    mkdirSync(join(dir, 'dlip-test', 'tiny'), { recursive: true });
    for (const [f, b] of local.files) writeFileSync(join(dir, 'dlip-test', 'tiny', f), b);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assertWeights((await loadModel('dlip-test/tiny')).model, local.weights);
    } finally {
      process.chdir(cwd);
    }
    assert.equal(hub.log.length, 0);
  });

  it('dlip inspect and dlip eval take a name', async () => {
    // Eval tokenizes with BERT's vocabulary, so this model has its full size.
    const config = parseBlipConfig({
      image_text_hidden_size: 8,
      vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
      text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 40 },
    }, 'test');
    hub.repos.set('dlip-test/eval', { refs: { main: A }, commits: { [A]: (await modelFiles(config, 1)).files } });
    const env = { ...process.env, DLIP_BACKEND: 'cpu', DLIP_CACHE: join(cache, 'dlip'), HF_HUB_DISABLE_PROGRESS_BARS: '' };
    const dlip = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        // Not spawnSync: the fake hub answers from this process's event loop.
        const child = spawn(process.execPath, [BIN, ...args], { env });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.stderr.on('data', (d: Buffer) => (err += d));
        child.on('close', (code) => resolve({ code, out, err }));
      });
    const shown = await dlip(['inspect', 'dlip-test/eval']);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, new RegExp(`^dlip-test/eval \\(Hugging Face hub, cached in ${join(cache, 'models--dlip-test--eval', 'snapshots', A)}\\)`));
    assert.match(shown.out, /against config\.json's architecture: 0 missing, 0 unexpected/);
    // stderr is not a terminal here: the bar as plain lines (start, every 30 s, end).
    assert.match(shown.err, /^dlip-test\/eval\/model\.safetensors \[█+\] 100% \| \d+\.\d MB \/ \d+\.\d MB$/m);
    const scored = await dlip(['eval', '--model', 'dlip-test/eval', '--world', 'tiny', '--tasks', 'retrieval', '--k', '2', '--json']);
    assert.equal(scored.code, 0, scored.err);
    assert.equal(JSON.parse(scored.out).model, 'dlip-test/eval');
    const bad = await dlip(['inspect', 'not a/name']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^dlip: "not a\/name" is neither a preset \(.*\), an existing folder or config file, nor a Hugging Face model name/);
  });
});
