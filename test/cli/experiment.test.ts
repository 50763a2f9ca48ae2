// `dlip ablate` and `dlip demo` as typed: a bad grid is refused naming the field; --dry-run lists the
// stages of every cell without running one.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-cli-experiment-'));
after(() => rmSync(work, { recursive: true, force: true }));

const dlip = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DLIP_CACHE: join(work, 'cache') } });

describe('dlip ablate', () => {
  it('refuses a bad grid, naming the file and the field', () => {
    const file = join(work, 'bad.json');
    writeFileSync(file, JSON.stringify({ teacher: 'tiny-teacher', steps: 10, vqaSteps: 5, seeds: [0, -1] }));
    const r = dlip('ablate', '--grid', file, '--out', join(work, 'bad-run'));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /bad\.json: seeds\.1:/);
    assert.equal(existsSync(join(work, 'bad-run')), false);
  });

  it('lists every stage of every cell with --dry-run, and runs none', () => {
    const file = join(work, 'grid.json');
    writeFileSync(file, JSON.stringify({ teacher: 'tiny-teacher', world: 'tiny', steps: 10, vqaSteps: 5, seeds: [0, 1], recipes: ['dlip-default', 'logits-only', 'no-kd'] }));
    const r = dlip('ablate', '--grid', file, '--out', join(work, 'run'), '--dry-run');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => /^\s+\d+\. /.test(l));
    // teacher: score, VQA fine-tune, VQA score; 6 cells × (distill, score, VQA, VQA score); latency.
    assert.equal(lines.length, 3 + 6 * 4 + 1);
    assert.ok(lines.every((l) => l.includes('to run')));
    assert.ok(lines.some((l) => l.includes('distill logits-only/tiny-student/seed 1')));
    assert.equal(existsSync(join(work, 'run', 'cells')), false);
  });
});

describe('dlip demo', () => {
  it('--dry-run lists the demo stages: teacher, dlip-default and no-kd students, latency', () => {
    const r = dlip('demo', '--quick', '--out', join(work, 'demo'), '--dry-run');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /distill dlip-default\/tiny-student\/seed 0/);
    assert.match(r.stdout, /distill no-kd\/tiny-student\/seed 0/);
    assert.match(r.stdout, /measure latency/);
  });
});
