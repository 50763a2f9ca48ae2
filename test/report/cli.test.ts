// `dlip report` as users run it: the report lands where --out says, and a folder that is no run fails
// with one line naming it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';
import { writeDistillRun } from './fixture.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-report-cli-'));
const dlip = (...args: string[]) => spawnSync(process.execPath, [BIN, '--backend', 'cpu', ...args], { encoding: 'utf8' });

describe('dlip report', () => {
  it('writes the report of a run folder to --out and says where', () => {
    const dir = join(work, 'run');
    writeDistillRun(dir);
    const out = join(work, 'page.html');
    const r = dlip('report', dir, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^report: ${out} \\(\\d+ KiB\\)\\n$`));
    assert.ok(existsSync(out) && !existsSync(join(dir, 'report.html')));
  });

  it('fails with one line naming a folder that is no run', () => {
    const r = dlip('report', work);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `dlip: ${work}: holds neither results.json (a dlip demo or ablate run) nor metrics.jsonl (a dlip distill run)\n`);
  });
});
