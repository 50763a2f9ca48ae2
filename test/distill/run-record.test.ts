// run.json of a distill run: written at the start with the options after defaults and the recipe as
// read; kept by a resume; nothing for options distill() will refuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunRecord, recordDistillRun } from '../../src/distill/run-record.js';
import { packageRoot } from '../../src/paths.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-run-record-'));

describe('distill run record', () => {
  it('records the command, the options after defaults and the recipe file as read', async () => {
    const out = join(work, 'run');
    await recordDistillRun({ teacher: 'tiny-teacher', recipe: 'no-kd', steps: 3, out }, ['dlip', 'distill', '--steps', '3']);
    const record = (await readRunRecord(out))!;
    assert.deepEqual(record.command, ['dlip', 'distill', '--steps', '3']);
    assert.equal(record.options.steps, 3);
    assert.equal(record.options.student, 'tiny-student', 'the default student');
    assert.equal(record.recipe.source, join(packageRoot, 'recipes', 'no-kd.json'));
    assert.deepEqual(record.recipe.value, JSON.parse(readFileSync(record.recipe.source, 'utf8')));
  });

  it('keeps the record of the start when the run resumes, and writes none for bad options', async () => {
    const out = join(work, 'resumed');
    await recordDistillRun({ teacher: 'tiny-teacher', out }, ['dlip', 'distill', 'first']);
    await recordDistillRun({ teacher: 'tiny-teacher', out, resume: true }, ['dlip', 'distill', 'again', '--resume']);
    assert.deepEqual((await readRunRecord(out))!.command, ['dlip', 'distill', 'first']);
    const bad = join(work, 'bad');
    await recordDistillRun({ teacher: 'tiny-teacher', out: bad, steps: -1 }, ['dlip']);
    await recordDistillRun({ teacher: 'tiny-teacher', out: bad, recipe: 'no-such-recipe' }, ['dlip']);
    assert.ok(!existsSync(join(bad, 'run.json')));
    assert.equal(await readRunRecord(bad), undefined);
  });

  it('names a malformed run.json', async () => {
    writeFileSync(join(work, 'run.json'), JSON.stringify({ command: 'dlip distill' }));
    await assert.rejects(readRunRecord(work), /run\.json: .*command/s);
  });
});
