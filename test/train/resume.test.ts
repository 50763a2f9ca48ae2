// A pre-training run killed mid-way and resumed ends with exactly the weights of an uninterrupted run.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-resume-'));
const env = { ...process.env, DLIP_BACKEND: 'wasm', DLIP_CACHE: join(work, 'cache') };
const modelFile = join(work, 'micro.json');
const args = (out: string) => [
  BIN, 'pretrain', '--out', out, '--model', modelFile, '--world', 'tiny', '--steps', '6', '--batch-size', '4',
  '--queue-size', '8', '--checkpoint-every', '2', '--warmup-steps', '2', '--seed', '3',
];

before(() => {
  writeFileSync(modelFile, JSON.stringify({
    image_text_hidden_size: 8,
    vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 8 },
    text_config: { hidden_size: 16, encoder_hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 40 },
  }));
});

describe('resume', () => {
  it('continues a killed run to the same final weights', async () => {
    const whole = join(work, 'whole');
    const straight = spawnSync(process.execPath, args(whole), { env, encoding: 'utf8' });
    assert.equal(straight.status, 0, straight.stderr);

    const killed = join(work, 'killed');
    const child = spawn(process.execPath, args(killed), { env, stdio: 'ignore' });
    const state = join(killed, 'checkpoint', 'trainer.json');
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(state) && JSON.parse(readFileSync(state, 'utf8')).step >= 2) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', (code) => {
        clearInterval(timer);
        if (code !== null) reject(new Error(`run finished (exit ${code}) before it could be killed`));
      });
    });
    assert.ok(!existsSync(join(killed, 'final')), 'the killed run must not have finished');
    const again = spawnSync(process.execPath, args(killed), { env, encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already holds a run .* pass --resume/);
    const resumed = spawnSync(process.execPath, [...args(killed), '--resume'], { env, encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);

    const a = readFileSync(join(whole, 'final', 'model.safetensors'));
    const b = readFileSync(join(killed, 'final', 'model.safetensors'));
    assert.ok(a.equals(b), 'final weights differ between the resumed and the uninterrupted run');
    const steps = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.deepEqual(steps(killed), steps(whole));
  });
});
