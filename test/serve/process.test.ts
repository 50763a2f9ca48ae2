// `dlip serve` as a process: kill -9 during a stream of gallery adds loses no acknowledged add;
// SIGHUP reloads the --model path; SIGTERM finishes the request in flight and exits cleanly.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { BIN } from '../helpers/bin.js';
import { call, form, png, tinyModel, tmp } from './helpers.js';

interface Child {
  proc: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** Starts `dlip serve` and resolves once it logs the URL it listens on. */
function start(args: string[]): Promise<Child> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'info', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let buffered = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      for (const line of buffered.split('\n')) {
        if (line.includes('"msg":"listening"')) resolve({ proc, url: JSON.parse(line).url, exited });
      }
    });
    void exited.then((code) => reject(new Error(`dlip serve exited with ${code} before listening: ${stderr}`)));
  });
}

describe('dlip serve: the process', () => {
  const children: ChildProcess[] = [];
  after(() => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

  it('documents its endpoints, options and signals in --help', () => {
    const help = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    for (const text of ['--model <dir|name>', '--gallery <dir>', '--api-key-file', '--max-batch', '--runtime <name>', '--quantize <kind>', '--queue-limit', '/v1/gallery/search', 'POST /admin/model', 'kill -HUP', 'SIGTERM']) {
      assert.ok(help.stdout.includes(text), `--help mentions ${text}`);
    }
  });

  it('keeps every acknowledged gallery add through kill -9, reloads on SIGHUP, drains on SIGTERM', async () => {
    const modelDir = await tinyModel('BlipForPreTraining', 20);
    const gallery = tmp('gallery');
    const args = ['--model', modelDir, '--gallery', gallery, '--compact-after', '16'];
    const first = await start(args);
    children.push(first.proc);
    const images = await Promise.all(Array.from({ length: 8 }, (_, i) => png(i * 30, 100, 255 - i * 30)));
    const acknowledged: string[] = [];
    let killed = false;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let n = 0; !killed; n++) {
        const id = `w${w}-${n}`;
        try {
          const r = await call(`${first.url}/v1/gallery`, { method: 'POST', body: form({ id, meta: JSON.stringify({ n }) }, images[n % images.length]) });
          if (r.status === 201) acknowledged.push(id);
          else assert.fail(`add ${id}: ${r.status} ${JSON.stringify(r.body)}`);
        } catch (err) {
          if (!killed) throw err; // only the kill may cut a request off
        }
      }
    });
    while (acknowledged.length < 40) await new Promise((r) => setTimeout(r, 20));
    killed = true;
    first.proc.kill('SIGKILL');
    await first.exited;
    await Promise.all(writers);

    // A long batching wait keeps the SIGTERM test's request queued while the signal arrives.
    const second = await start([...args, '--max-wait-ms', '1500']);
    children.push(second.proc);
    const listed = (await call(`${second.url}/v1/gallery?limit=1000`)).body;
    const present = new Set(listed.entries.map((e: { id: string }) => e.id));
    const lost = acknowledged.filter((id) => !present.has(id));
    assert.deepEqual(lost, [], `${acknowledged.length} acknowledged adds, ${present.size} present after kill -9`);
    const versionBefore = (await call(`${second.url}/v1/model`)).body.version;

    // SIGHUP: the --model folder now holds other weights.
    const other = await tinyModel('BlipForPreTraining', 21);
    rmSync(modelDir, { recursive: true });
    cpSync(other, modelDir, { recursive: true });
    second.proc.kill('SIGHUP');
    let version = versionBefore;
    for (let i = 0; i < 600 && version === versionBefore; i++) {
      await new Promise((r) => setTimeout(r, 100));
      version = (await call(`${second.url}/v1/model`)).body.version;
    }
    assert.notEqual(version, versionBefore, 'SIGHUP swapped to the weights now at the --model path');
    const entries = (await call(`${second.url}/v1/gallery?limit=1000`)).body.entries;
    assert.ok(entries.every((e: { model: string }) => e.model === version));

    // SIGTERM with a request in flight: it is answered, then the process exits 0.
    const inFlight = call(`${second.url}/v1/caption?beams=3&max_length=30`, { method: 'POST', body: form({}, images[0]) });
    while (!/dlip_queue_depth 1/.test((await call(`${second.url}/metrics`)).body)) await new Promise((r) => setTimeout(r, 10));
    second.proc.kill('SIGTERM');
    assert.equal((await inFlight).status, 200);
    assert.equal(await second.exited, 0);
  });
});
