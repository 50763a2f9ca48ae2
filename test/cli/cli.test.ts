// The `dlip` command as a user runs it: the built binary in a child process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/bin.js';
import { FIXTURE_DIR } from '../helpers/fixtures.js';


function dlip(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('dlip CLI', () => {
  it('documents every command in --help', () => {
    const { code, out } = dlip(['--help']);
    assert.equal(code, 0);
    for (const cmd of ['inspect', 'presets', '--backend']) assert.match(out, new RegExp(cmd));
    assert.match(dlip(['inspect', '--help']).out, /--json/);
  });

  it('inspects a preset as JSON with per-task parameters and FLOPs', () => {
    const { code, out } = dlip(['inspect', 'tiny-teacher', '--json']);
    assert.equal(code, 0);
    const report = JSON.parse(out);
    assert.equal(report.kind, 'preset');
    const tasks = Object.fromEntries(report.cost.tasks.map((t: { architecture: string }) => [t.architecture, t]));
    assert.ok(tasks.BlipForImageTextRetrieval.parameters > 1e6);
    assert.ok(tasks.BlipForConditionalGeneration.flops > 0);
    assert.ok(tasks.BlipForPreTraining.parametersByModule.text_decoder < tasks.BlipForPreTraining.parametersByModule.text_encoder);
  });

  it('inspects a Hugging Face folder and summarises its keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlip-cli-'));
    copyFileSync(join(FIXTURE_DIR, 'vqa_config.json'), join(dir, 'config.json'));
    copyFileSync(join(FIXTURE_DIR, 'vqa_weights.safetensors'), join(dir, 'model.safetensors'));
    const { code, out } = dlip(['inspect', dir]);
    assert.equal(code, 0, out);
    assert.match(out, /BlipForQuestionAnswering/);
    assert.match(out, /0 missing, 0 unexpected/);
    assert.match(out, /text_decoder \d+/);
  });

  it('fails with one readable line on bad input', () => {
    const unknown = dlip(['inspect', 'no-such-model']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /^dlip: "no-such-model" is neither a preset \(blip-base, dlip-small, tiny-student, tiny-teacher\)/);
    const backend = dlip(['--backend', 'gpu', 'presets']);
    assert.equal(backend.code, 1);
    assert.match(backend.err, /unknown backend "gpu" \(from --backend\); choose one of/);
    const env = dlip(['presets'], { DLIP_BACKEND: 'tpu' });
    assert.match(env.err, /unknown backend "tpu" \(from DLIP_BACKEND\)/);
  });
});
