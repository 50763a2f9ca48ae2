// `dlip report` rendered from made-up run folders: the tables show the figures of experiment/results.ts,
// the charts carry the right series, examples mark each model's mistakes, markup in any text is shown
// as text, nothing on the page points outside it, and bad input names what is wrong.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decisions, speedups } from '../../src/experiment/results.js';
import { captionWords, wrongAnswer } from '../../src/report/examples.js';
import { parseMetricsLog } from '../../src/report/metrics-log.js';
import { writeReport } from '../../src/report/report.js';
import type { ChartSpec } from '../../src/report/charts.js';
import { EVIL, SHA, writeDemoRun, writeDistillRun } from './fixture.js';

const work = mkdtempSync(join(tmpdir(), 'dlip-report-'));

function chartsOf(page: string): ChartSpec[] {
  const m = /<script type="application\/json" id="dlip-charts">(.*?)<\/script>/s.exec(page);
  assert.ok(m, 'the page embeds its chart data');
  return JSON.parse(m[1]!) as ChartSpec[];
}

/** The text of each row of the table that follows `heading`, cells joined by " | ". */
function rowsAfter(page: string, heading: string): string[] {
  const start = page.indexOf(heading);
  assert.ok(start >= 0, `no "${heading}" on the page`);
  const table = page.slice(start).match(/<table>(.*?)<\/table>/s)![1]!;
  return [...table.matchAll(/<tr[^>]*>(.*?)<\/tr>/gs)].map((r) => [...r[1]!.matchAll(/<t[dh][^>]*>(.*?)<\/t[dh]>/gs)].map((c) => c[1]!.replace(/<[^>]+>/g, '').trim()).join(' | '));
}

describe('report of a demo run', async () => {
  const dir = join(work, 'demo');
  const results = await writeDemoRun(dir);
  const out = await writeReport(dir);
  const page = readFileSync(out, 'utf8');

  it('is written to <run>/report.html, or --out', async () => {
    assert.equal(out, join(dir, 'report.html'));
    const other = join(work, 'elsewhere.html');
    assert.equal(await writeReport(dir, other), other);
    assert.equal(readFileSync(other, 'utf8'), page);
  });

  it('shows the decision figures of experiment/results.ts', () => {
    const kd = results.students[0]!;
    const d = decisions(results, kd);
    // By hand: the KD student keeps 3/4 of every headline score, the no-KD one 1/2; 4× fewer parameters.
    assert.deepEqual(d.map((x) => [x.task, x.retained, x.kdGain]), [['retrieval', 0.75, 20], ['caption', 0.75, 25], ['vqa', 0.75, 15]]);
    const rows = rowsAfter(page, '<h3>dlip-default/tiny-student/seed 0</h3>');
    assert.deepEqual(rows.slice(1), [
      'retrieval | R@1 (mean of TR@1 and IR@1) | 80.0 | 60.0 | 75.0% | +20.0 | 4.00× | 8.00×',
      'caption | CIDEr | 100.0 | 75.0 | 75.0% | +25.0 | 4.00× | 8.00×',
      'vqa | VQA accuracy | 60.0 | 45.0 | 75.0% | +15.0 | 4.00× | 8.00×',
    ]);
    assert.deepEqual(speedups(results, kd).map((s) => s.batch1), [2, 4, 4, 4]);
    const speed = page.slice(page.indexOf('<h3>dlip-default/tiny-student/seed 0</h3>')).split('</table>')[1]!;
    assert.match(speed, /<td>image<\/td><td class="num">2\.00×<\/td><td class="num">8\.00×<\/td>/);
    // The baseline has no KD gain over itself.
    assert.match(rowsAfter(page, '<h3>no-kd/tiny-student/seed 0</h3>')[1]!, /^retrieval \| .* \| 80\.0 \| 40\.0 \| 50\.0% \| — \| 4\.00× \| 8\.00×$/);
  });

  it("checks DLIP's targets, and has no table over seeds for a single seed", () => {
    assert.ok(!page.includes('<h2>Over seeds</h2>'));
    const rows = rowsAfter(page, "<h2>DLIP's targets</h2>");
    assert.ok(rows.includes('dlip-default/tiny-student | beats no-kd on retrieval (mean over seeds) | yes | +20.00, higher on 1 of 1 paired seeds'), rows.join('\n'));
    assert.ok(rows.includes('dlip-default/tiny-student | keeps ≥ 95.0% of the teacher&#39;s retrieval score | no | 75.0%'), rows.join('\n'));
    assert.ok(rows.includes('dlip-default/tiny-student | ≥ 2.7x faster than the teacher (image encoding, batch 1 and 32) | no | 2.0x / 8.0x'), rows.join('\n'));
    assert.ok(!rows.some((r) => r.startsWith('no-kd/')), 'the baseline is not judged');
  });

  it('has a teacher-vs-students table per task with every metric, the headline first', () => {
    const rows = rowsAfter(page, '<h3>retrieval</h3>');
    assert.deepEqual(rows, [
      'model | r1 | tr1 | ir1 | r5 | retained | KD gain | parameters | FLOPs | retrieval ms, batch 1 | batch 32',
      'teacher | 80.0 | 84.0 | 76.0 | 95.0 | 100.0% |  | 24.00 M | 8.00 G | 40.0 | 320',
      'dlip-default/tiny-student/seed 0 | 60.0 | 63.0 | 57.0 | 71.3 | 75.0% | +20.0 | 6.00 M | 1.00 G | 10.0 | 80.0',
      'no-kd/tiny-student/seed 0 | 40.0 | 42.0 | 38.0 | 47.5 | 50.0% | — | 6.00 M | 1.00 G | 10.0 | 80.0',
    ]);
    assert.ok(page.includes('<h3>caption</h3>') && page.includes('<h3>vqa</h3>'));
  });

  it('charts quality against parameters and latency, the teacher apart, and each training run', () => {
    const charts = chartsOf(page);
    assert.equal(page.match(/<canvas id="chart-\d+"/g)!.length, charts.length);
    assert.equal(charts.length, 3 * 2 + 2 * 2);
    const params = charts.find((c) => c.title === 'retrieval: R@1 (mean of TR@1 and IR@1) vs parameters')!;
    assert.deepEqual(params.series.map((s) => [s.label, s.teacher ?? false, s.points]), [
      ['teacher', true, [{ x: 24_000_000, y: 80, name: 'teacher' }]],
      ['students', false, [{ x: 6_000_000, y: 60, name: 'dlip-default/tiny-student/seed 0' }, { x: 6_000_000, y: 40, name: 'no-kd/tiny-student/seed 0' }]],
    ]);
    const latency = charts.find((c) => c.title === 'caption: CIDEr vs latency')!;
    assert.deepEqual(latency.series.map((s) => s.points.map((p) => p.x)), [[200], [50, 50]]);
    const loss = charts.find((c) => c.title === 'dlip-default/tiny-student/seed 0: distill, loss terms')!;
    assert.deepEqual(loss.series.map((s) => s.label), ['loss (weighted total)', 'itc', 'lm', 'kd_lm']);
    assert.deepEqual(loss.series[0]!.points, [{ x: 10, y: 9 }, { x: 20, y: 8 }, { x: 30, y: 7 }, { x: 40, y: 6 }]);
    assert.deepEqual(loss.series[3]!.points.map((p) => p.y), [12, 9, 6, 3]);
    const validation = charts.find((c) => c.title === 'no-kd/tiny-student/seed 0: train, validation')!;
    assert.deepEqual(validation.series.map((s) => [s.label, s.points]), [
      ['tr1', [{ x: 20, y: 20 }, { x: 40, y: 40 }]],
      ['ir1', [{ x: 20, y: 10 }, { x: 40, y: 20 }]],
      ['r_mean', [{ x: 20, y: 15 }, { x: 40, y: 30 }]],
    ]);
  });

  it('marks what each model got wrong in the examples', () => {
    assert.deepEqual(rowsAfter(page, '<h2>Examples</h2>').slice(1), [
      'teacher | 1 | 0 | 0 | 0',
      'dlip-default/tiny-student/seed 0 | 1 | 1 | 0 | 4',
      'no-kd/tiny-student/seed 0 | 1 | 1 | 1 | 1',
    ]);
    assert.match(page, /<mark class="wrong">zebra<\/mark>/);
    assert.match(page, /<mark class="wrong">two<\/mark>/);
    assert.match(page, /<td class="good">Red<\/td>/);
    assert.equal(page.match(/true image not in the top 5/g)!.length, 1);
    // The true image is framed in the two top-5s that hold it, at its rank.
    assert.equal(page.match(/<div class="thumb true" title="red">/g)!.length, 2);
    assert.match(page, /title="red"><img src="data:image\/png;base64,[^"]+" alt="red">2 ✓/);
  });

  it('shows markup in captions, recipes and the command as text', () => {
    assert.ok(!page.includes(EVIL), 'raw markup from the results reached the page');
    assert.ok(page.includes('<mark class="wrong">&lt;img</mark> <mark class="wrong">src=x</mark> <mark class="wrong">onerror=&quot;alert(1)&quot;&gt;</mark>'));
    assert.ok(page.includes('baseline &lt;img src=x onerror=\\&quot;alert(1)\\&quot;&gt;'), 'the recipe, as JSON');
    assert.ok(!page.includes('<b>bold</b>'));
    // Shell-quoted, then escaped: dlip demo --budget 2 --note 'it'\''s <b>bold</b>'
    assert.ok(page.includes("<pre>dlip demo --budget 2 --note &#39;it&#39;\\&#39;&#39;s &lt;b&gt;bold&lt;/b&gt;&#39;</pre>"));
  });

  it('names the recipes, versions and the sha256 of every model', () => {
    for (const sha of Object.values(SHA)) assert.ok(page.includes(sha), sha);
    assert.match(page, /<h4>no-kd \(the no-KD baseline\)<\/h4>/);
    assert.match(page, /<tr><th>tfjs<\/th><td>4\.22\.0<\/td><\/tr>/);
  });

  it('needs nothing outside the file: images inline, no external script, style or link', () => {
    const sources = [...page.matchAll(/<(?:img|script|link|iframe|source)\b[^>]*\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    assert.equal(sources.length, 1 + 4 + 3 + 3, `sources: ${sources.map((s) => s.slice(0, 30)).join(', ')}`);
    assert.ok(sources.every((s) => s.startsWith('data:image/png;base64,')));
    assert.equal(page.match(/<script\b/g)!.length, 3);
    assert.ok(!/<link\b/.test(page));
    assert.ok(!page.includes('sourceMappingURL'));
  });
});

describe('report of a distill run', () => {
  it('shows the teacher beside the student, the curves and the sha256 of each exported model', async () => {
    const dir = join(work, 'distill');
    writeDistillRun(dir);
    const page = readFileSync(await writeReport(dir), 'utf8');
    assert.match(page, /<h1>dlip distill: tiny-student from models\/tiny-teacher<\/h1>/);
    assert.ok(page.includes('(4.00× smaller)'));
    assert.deepEqual(rowsAfter(page, '<h2>Teacher and student'), [
      'metric | teacher | student, last (step 50) | retained | student, best (step)',
      'tr1 | 80.0 | 30.0 | 37.5% | 40.0 (40)',
      'ir1 | 60.0 | 25.0 | 41.7% | 25.0 (50)',
      'r_mean | 70.0 | 27.5 | 39.3% | 30.0 (40)',
    ]);
    assert.deepEqual(chartsOf(page).map((c) => [c.title, c.series.length]), [['loss terms', 4], ['validation', 3]]);
    assert.ok(page.includes(SHA.kd) && page.includes(SHA.nokd));
    // run.json: the command (markup in it shown as text), the recipe as read, the options.
    assert.ok(page.includes(`<pre>dlip distill --teacher tiny-teacher --out ${dir} --prompt &#39;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;</pre>`));
    assert.ok(page.includes('<p class="meta">recipes/dlip-default.json</p>'));
    assert.match(page, /&quot;kd_feature&quot;: \{\n\s+&quot;weight&quot;: 1/);
    assert.match(page, /&quot;steps&quot;: 40/);
  });

  it('renders a run whose teacher was not scored and that has no run.json', async () => {
    const dir = join(work, 'distill-no-teacher');
    writeDistillRun(dir, { withTeacher: false, withRecord: false });
    const page = readFileSync(await writeReport(dir), 'utf8');
    assert.ok(page.includes('The teacher was not scored'));
    assert.ok(page.includes('Not recorded: the folder has no run.json'));
    assert.match(rowsAfter(page, '<h2>Teacher and student')[1]!, /^tr1 \| — \| 30\.0 \| — \| 40\.0 \(40\)$/);
  });
});

describe('report of a run over seeds', async () => {
  const dir = join(work, 'seeds');
  const results = await writeDemoRun(dir);
  // A second seed: the KD student at 0.85 of the teacher, the no-KD one at 0.55 (seed 0: 0.75 and 0.5).
  const again = (s: (typeof results.students)[number], scale: number) => ({
    ...s, name: s.name.replace('seed 0', 'seed 1'), seed: 1, metrics: [], sha256: {},
    scores: Object.fromEntries(Object.entries(results.teacher.scores).map(([task, m]) => [task, Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v * scale]))])),
  });
  results.students.push(again(results.students[0]!, 0.85), again(results.students[1]!, 0.55));
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results));
  const page = readFileSync(await writeReport(dir), 'utf8');

  it('shows each KD recipe against the baseline as means with their spread and gains paired by seed', () => {
    const rows = rowsAfter(page, '<h3>dlip-default against no-kd (tiny-student, seeds 0, 1)</h3>');
    assert.equal(rows[1], 'retrieval | R@1 (mean of TR@1 and IR@1) | 80.0 | 64.0 ± 5.7 (60.0–68.0, n=2) | 42.0 ± 2.8 (40.0–44.0, n=2) | +22.0 | 2/2 | 80.0%');
    assert.equal(rows.length, 4, 'a row per task: the fixture has no secondary metric');
  });
});

describe('report errors', () => {
  const broken = async (name: string, edit: (r: Record<string, any>) => void): Promise<string> => {
    const dir = join(work, name);
    const r = await writeDemoRun(dir);
    edit(r as unknown as Record<string, any>);
    writeFileSync(join(dir, 'results.json'), JSON.stringify(r));
    return dir;
  };

  it('names the bad field of results.json', async () => {
    const dir = await broken('bad-score', (r) => (r.students[0].scores.retrieval.r1 = 'high'));
    await assert.rejects(writeReport(dir), /results\.json: students\.0\.scores\.retrieval\.r1: /);
  });

  it('names an example output of a model the run lacks, and an image it cannot show', async () => {
    const ghost = await broken('ghost', (r) => (r.examples[0].outputs.ghost = { caption: 'boo' }));
    await assert.rejects(writeReport(ghost), /examples\.0\.outputs: "ghost" is neither the teacher nor a student/);
    const lost = await broken('lost', (r) => delete r.exampleImages.blue);
    await assert.rejects(writeReport(lost), /exampleImages has no file for image "blue" \(examples\.0\.outputs\["teacher"\]\.top5\)/);
    const gone = await broken('gone', () => undefined);
    rmSync(join(gone, 'images', 'green.png'));
    await assert.rejects(writeReport(gone), /exampleImages\["green"\]: image .*green\.png does not exist/);
  });

  it('names a missing metrics file and a folder that is no run', async () => {
    const dir = await broken('no-metrics', () => undefined);
    rmSync(join(dir, 'kd', 'metrics.jsonl'));
    await assert.rejects(writeReport(dir), /kd\/metrics\.jsonl: cannot read the metrics log \(ENOENT\)/);
    await assert.rejects(writeReport(work), /holds neither results\.json .* nor metrics\.jsonl/);
    await assert.rejects(writeReport(join(work, 'nowhere')), /nowhere: no such run folder/);
  });
});

describe('report helpers', () => {
  it('judges an answer by VQA normalisation against every ground-truth answer', () => {
    assert.equal(wrongAnswer('Red.', ['red']), false);
    assert.equal(wrongAnswer('two', ['one', '1']), true);
    assert.equal(wrongAnswer('1', ['one']), false);
  });

  it('marks the caption words that no reference uses, keeping the caption as written', () => {
    const words = captionWords('A dog, running  fast', ['a dog runs', 'the dog is fast']);
    assert.equal(words.map((w) => w.text).join(''), 'A dog, running  fast');
    assert.deepEqual(words.filter((w) => w.unsupported).map((w) => w.text), ['running']);
  });

  it('reads both kinds of metrics.jsonl line and names a bad one by line', () => {
    const log = parseMetricsLog('{"step":1,"loss":2,"terms":{"a":1}}\n\n{"step":1,"eval":{"r":3}}\n', 'm.jsonl');
    assert.deepEqual(log.steps, [{ step: 1, loss: 2, terms: { a: 1 } }]);
    assert.deepEqual(log.evals, [{ step: 1, metrics: { r: 3 } }]);
    assert.throws(() => parseMetricsLog('{"step":1,"loss":2}\n{"step":"x"}\n', 'm.jsonl'), /^Error: m\.jsonl:2: neither a step line/);
    assert.throws(() => parseMetricsLog('{"step":1,', 'm.jsonl'), /m\.jsonl:1: not valid JSON/);
  });
});
