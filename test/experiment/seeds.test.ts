// Results over seeds: spreads, KD's gain paired by seed (and undecided while a seed is missing),
// retention of the mean, DLIP's targets, and the Markdown that shows them only when seeds repeat.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResults } from '../../src/experiment/results.js';
import type { Results } from '../../src/experiment/results.js';
import { headlineMetric, overSeeds, spread, targetChecks } from '../../src/experiment/seeds.js';
import { formatSpread, resultsMarkdown } from '../../src/experiment/tables.js';

const cost = (parameters: number, flops: number) => ({ retrieval: { parameters, flops }, caption: { parameters, flops }, vqa: { parameters, flops } });
const latency = (ms: number) => ({ image: { batch1Ms: ms, batch32Ms: 10 * ms } });

function student(recipe: string, seed: number, r1: number, cider: number, accuracy?: number) {
  return {
    name: `${recipe}/tiny-student/seed ${seed}`, role: 'student', recipe, student: 'tiny-student', seed, models: {}, sha256: {},
    cost: cost(20, 3), latency: latency(1), scores: { retrieval: { r1, itc_r1: r1 + 10 }, caption: { cider }, ...(accuracy !== undefined && { vqa: { accuracy } }) },
  };
}

function results(students: object[]): Results {
  return parseResults({
    format: 'dlip-results', version: 1, kind: 'ablate', command: ['dlip', 'ablate'], created: '2026-12-02T00:00:00.000Z', versions: {}, backend: 'native',
    data: { name: 'test', file: 'dataset.json', split: 'test' }, recipes: {}, baseline: 'no-kd',
    teacher: { name: 'teacher', role: 'teacher', models: {}, sha256: {}, cost: cost(100, 10), latency: latency(3), scores: { retrieval: { r1: 40, itc_r1: 50 }, caption: { cider: 100 }, vqa: { accuracy: 0 } } },
    students,
  }, 'test results');
}

const full = results([
  student('kd', 0, 38, 90, 10), student('no-kd', 0, 36, 92, 11),
  student('kd', 1, 40, 96, 12), student('no-kd', 1, 37, 100, 11),
]);

describe('results over seeds', () => {
  it('spreads use the sample standard deviation, and one value has none', () => {
    const s = spread([1, 2, 3, 6])!;
    assert.equal(s.mean, 3);
    assert.ok(Math.abs(s.std! - Math.sqrt(14 / 3)) < 1e-12);
    assert.deepEqual([s.min, s.max, s.n], [1, 6, 4]);
    assert.equal(spread([5])!.std, undefined);
    assert.equal(spread([]), undefined);
    assert.equal(formatSpread(spread([1, 3])), '2.00 ± 1.41 (1.00–3.00, n=2)');
    assert.equal(formatSpread(spread([1])), '1.00 (1 seed)');
  });

  it('groups cells by recipe and student, pairs KD with the baseline seed by seed, and keeps the mean', () => {
    const [kd, base] = overSeeds(full);
    assert.deepEqual([kd!.recipe, kd!.seeds, kd!.baseline, base!.recipe, base!.baseline], ['kd', [0, 1], false, 'no-kd', true]);
    assert.deepEqual(kd!.metrics.map((m) => [m.task, m.key, m.headline]), [
      ['retrieval', 'r1', true], ['retrieval', 'itc_r1', false], ['caption', 'cider', true], ['vqa', 'accuracy', true],
    ]);
    const retrieval = headlineMetric(kd!, 'retrieval')!;
    assert.equal(retrieval.spread.mean, 39);
    assert.deepEqual(retrieval.gain, { mean: 39 - 36.5, seeds: 2, wins: 2, complete: true });
    assert.equal(retrieval.retained, 39 / 40);
    assert.deepEqual(headlineMetric(kd!, 'caption')!.gain, { mean: 93 - 96, seeds: 2, wins: 0, complete: true });
    assert.equal(kd!.metrics.find((m) => m.key === 'itc_r1')!.retained, 49 / 50, 'the secondary metric against the teacher\'s own');
    assert.equal(headlineMetric(kd!, 'vqa')!.retained, undefined, 'a teacher at 0 gives no ratio');
    assert.ok(base!.metrics.every((m) => m.gain === undefined), 'the baseline has no gain over itself');
  });

  it('pairs over the seeds both ran, and leaves the verdict open while a seed is missing', () => {
    const partial = results([student('kd', 0, 38, 90), student('no-kd', 0, 36, 92), student('no-kd', 1, 37, 100)]);
    const [kd] = overSeeds(partial);
    assert.deepEqual(headlineMetric(kd!, 'retrieval')!.gain, { mean: 2, seeds: 1, wins: 1, complete: false }, "the baseline's seed 1 is not averaged in");
    const check = targetChecks(partial, overSeeds(partial)).find((c) => c.claim === 'beats no-kd on retrieval (mean over seeds)')!;
    assert.equal(check.met, undefined);
    assert.match(check.measured, /higher on 1 of 1 paired seeds \(incomplete\)/);
  });

  it("checks DLIP's targets: the gain, 95% kept, a quarter of the cost, 2.7x the speed", () => {
    const met = Object.fromEntries(targetChecks(full, overSeeds(full)).map((c) => [c.claim, c.met]));
    assert.equal(met['beats no-kd on retrieval (mean over seeds)'], true);
    assert.equal(met['beats no-kd on caption (mean over seeds)'], false);
    assert.equal(met["keeps ≥ 95.0% of the teacher's retrieval score"], true);
    assert.equal(met["keeps ≥ 95.0% of the teacher's caption score"], false);
    assert.equal(met["keeps ≥ 95.0% of the teacher's vqa score"], undefined);
    assert.equal(met["≤ 25.0% of the teacher's parameters and FLOPs (retrieval model)"], false, '20% of the parameters but 30% of the FLOPs');
    assert.equal(met['≥ 2.7x faster than the teacher (image encoding, batch 1 and 32)'], true, '3x at both batch sizes');
    const slow = results([{ ...student('kd', 0, 38, 90), latency: { image: { batch1Ms: 1, batch32Ms: 20 } } }, student('no-kd', 0, 36, 92)]);
    const speed = targetChecks(slow, overSeeds(slow)).find((c) => c.claim.startsWith('≥ 2.7x'))!;
    assert.deepEqual([speed.met, speed.measured], [false, '3.0x / 1.5x']);
  });

  it('shows the tables over seeds only when a cell ran more than one seed', () => {
    const md = resultsMarkdown(full);
    assert.match(md, /## Over seeds/);
    assert.match(md, /\| R@1 \| 40\.00 \| 39\.00 ± 1\.41 \(38\.00–40\.00, n=2\) \| 36\.50 ± 0\.71 \(36\.00–37\.00, n=2\) \| \+2\.50 \| 2\/2 \| 97\.5% \/ 91\.3% \|/);
    assert.match(md, /\| R@1 of the ITC stage alone \(no ITM rerank\) \| 50\.00 \| 49\.00 ± 1\.41 \(48\.00–50\.00, n=2\) \| 46\.50 ± 0\.71 \(46\.00–47\.00, n=2\) \| \+2\.50 \| 2\/2 \| 98\.0% \/ 93\.0% \|/);
    assert.match(md, /## DLIP's targets/);
    assert.match(md, /\| kd\/tiny-student \| keeps ≥ 95\.0% of the teacher's caption score \| \*\*no\*\* \| 93\.0% \|/);
    const unscored = (recipe: string, seed: number) => ({ ...student(recipe, seed, 0, 0), scores: {} });
    const pending = resultsMarkdown(results([student('kd', 0, 38, 90), student('no-kd', 0, 36, 92), unscored('kd', 1), unscored('no-kd', 1)]));
    assert.doesNotMatch(pending, /## Over seeds/, 'cells of a seed that has not scored yet make no spread');
    const single = resultsMarkdown(results([student('kd', 0, 38, 90), student('no-kd', 0, 36, 92)]));
    assert.doesNotMatch(single, /## Over seeds/);
    assert.match(single, /## DLIP's targets/);
  });
});
